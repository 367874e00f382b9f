//! The centre's queue service ("hub", issue #18): one device of a centre keeps the hall's
//! queue so that every kiosk of the centre issues numbers from ONE sequence per service area
//! per day, counters call from that queue, the hall display shows and speaks each call, a
//! tablet at each counter rates the ticket just served, and the whole keeps working with the
//! provincial link down. Tickets, calls and ratings reach the gateway later through the hub's
//! outbox.
//!
//! - [`store`]: the durable queue (SQLite) and its promises;
//! - [`config`]: the config file, `hub.toml`;
//! - [`tls`], [`serve`]: the kiosk port (mutual TLS with device certificates of this site) and
//!   the page port (the hub's own page certificate; sign-in and pairing);
//! - [`kiosk_api`], [`pages`]: what each port serves;
//! - [`hall`]: the running state (officers signed in, calls pushed to displays, wait estimate);
//! - [`audio`]: the call-out WAV files;
//! - [`upload`]: the outbox to the gateway;
//! - [`tokens`]: random tokens and codes, kept as hashes.

pub mod audio;
pub mod config;
pub mod hall;
pub mod kiosk_api;
pub mod pages;
pub mod serve;
pub mod store;
pub mod tls;
pub mod tokens;
pub mod upload;

pub use store::{
    CallRecord, FallbackLayout, FallbackRange, HubError, HubResult, HubStore, OutboxEvent,
    ScreenKind, Ticket, TicketSource, TicketState, TransferTarget,
};
