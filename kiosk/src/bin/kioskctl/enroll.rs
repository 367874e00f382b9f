//! `kioskctl enroll`: registering the kiosk with the gateway and keeping its token.

use std::path::Path;

use anyhow::Context;
use motcua_kiosk::config::KioskConfig;
use motcua_uplink::client::GatewayClient;

use crate::runtime;

pub(crate) fn enroll(
    config: &KioskConfig,
    key: &str,
    admin_key: Option<String>,
) -> anyhow::Result<()> {
    let runtime = runtime()?;
    // The admin key, when given, goes as the bearer token: it allows re-enrolling a known id.
    let client = GatewayClient::new(
        &config.uplink.gateway_url,
        admin_key,
        config.uplink.request_timeout,
    )?;
    let token = runtime.block_on(client.enroll(&config.device.id, key))?;
    write_token(&config.store.data_dir, &token)?;
    println!(
        "Đã đăng ký thiết bị / device {} enrolled at {}",
        config.device.id, config.uplink.gateway_url
    );
    Ok(())
}

fn write_token(dir: &Path, token: &str) -> anyhow::Result<()> {
    motcua_kiosk::write_token(dir, token)
        .with_context(|| format!("cannot save the device token in {}", dir.display()))
}
