//! Document scanners (being built).
