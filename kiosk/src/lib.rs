//! The motcua kiosk appliance: what composes the parts into `kioskd` and `kioskctl`.
//!
//! The parts live in crates of their own: the durable local store (`motcua-store`), the screen
//! flows as state machines (`motcua-flows`), the gateway client and outbox drain
//! (`motcua-uplink`), the printer, the scanner and the screens. This crate holds the config
//! file that builds each part's settings ([`config`]), the device wiring ([`devices`]), the
//! receipt and separator-sheet printing, intake's executor, and the touch app with its services.
//!
//! Data flows one way: device → event → flow → store (blobs fsynced, then one transaction with
//! its outbox entry) → uplink → gateway, which acknowledges durably before anything is deleted.

pub mod config;
pub mod devices;
pub mod display;
pub mod dossier_file;
pub mod health_report;
pub mod hub_link;
pub mod intake;
pub mod pins;
pub mod provisioning;
pub mod receipt;
pub mod remote;
pub mod screen_config;
pub mod separators;
pub mod supervisor;
pub mod touch;
pub mod update;
