//! Receipt printing (being built).
