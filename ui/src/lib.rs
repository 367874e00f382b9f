//! The kiosk's touch screens, written in Slint (`ui/*.slint`), and a headless window for
//! screenshots, scripted runs and render benchmarks.
//!
//! The screens know nothing of the kiosk: the kiosk sets the window's properties from its flow
//! state and receives `action(name, argument)` and `key(name)` callbacks. Slint is used under its
//! GPL-3.0 licence (its royalty-free licence excludes embedded devices), with the software
//! renderer: kiosk boards often have no usable GPU, and the same renderer draws under Xvfb, on a
//! desktop and headless, so screenshots show exactly what a citizen sees.

slint::include_modules!();

pub mod headless;

/// Logical size of the kiosk screen: a 21.5" portrait touch monitor (1080 × 1920).
pub const SCREEN_WIDTH: u32 = 1080;
/// See [`SCREEN_WIDTH`].
pub const SCREEN_HEIGHT: u32 = 1920;
