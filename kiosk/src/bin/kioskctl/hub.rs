//! `kioskctl ticket` at a kiosk of a centre with a hub (`[hub]`, issue #18): the hub numbers
//! the ticket, or the kiosk's fallback block when the hub is unavailable; nothing goes to the
//! gateway outbox (the hub's outbox delivers tickets).

use anyhow::Context;
use motcua_kiosk::config::KioskConfig;

use motcua_store::vietnam_now as now;

use crate::{open, runtime};

/// `kioskctl ticket` of a kiosk with `[hub]`: the hub's number, else one from the block.
pub(crate) fn ticket(config: &KioskConfig, area: &str) -> anyhow::Result<()> {
    use motcua_kiosk::hub_link::{self, Issued};
    let hub = config.hub.as_ref().context("no [hub]")?;
    let client = hub_link::hub_client(config, hub);
    let mut store = open(config)?;
    let issued = runtime()?.block_on(hub_link::issue_or_fall_back(
        client,
        &mut store,
        &config.device.id,
        area,
        now(),
    ))?;
    let (number, id, how) = match issued {
        Issued::Hub(t) => (t.number, t.ticket_id, "máy chủ quầy / hub"),
        Issued::Offline(t) => (
            t.number,
            t.ticket_id,
            "CẤP KHI MẤT KẾT NỐI / issued offline",
        ),
    };
    println!("{number}");
    eprintln!("Số thứ tự / ticket {number} ({id}): {how}");
    Ok(())
}
