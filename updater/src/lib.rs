//! motcua-updater: the kiosk's root updater. kioskd runs unprivileged and cannot install; it
//! asks through files in its spool (`motcua_domain::update`) and a systemd path unit starts this
//! program, which checks the request again itself, installs the signed package with dpkg,
//! watches the kioskd unit's health and commits the version or rolls it back by itself, and
//! leaves its result for kioskd to report. See [`run`] for the steps.

pub mod config;
pub mod files;
pub mod health;
pub mod progress;
pub mod run;
mod steps;
pub mod store_copy;
pub mod system;
pub mod verify;
