//! The centre's queue service ("hub", issue #18): one device of a centre keeps the hall's
//! queue so that every kiosk of the centre issues numbers from ONE sequence per service area
//! per day, counters call from that queue, and the whole keeps working with the provincial
//! link down. Tickets, calls and ratings reach the gateway later through the hub's outbox.
//!
//! For now this crate is the hub's durable store only ([`store`]); the LAN protocol that
//! kiosks and counters use to reach it, and the upload of its outbox, come later.

pub mod store;

pub use store::{
    FallbackLayout, FallbackRange, HubError, HubResult, HubStore, OutboxEvent, Ticket,
    TicketSource, TicketState, TransferTarget,
};
