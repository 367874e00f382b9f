//! Code readers and payload classification (being built).
