//! The gateway reaches PostgreSQL over TLS when its database URL says `sslmode=verify-full`,
//! verifying the server against the CA it is given, and refuses a server it cannot verify.
//! Run by the README's test command, which starts PostgreSQL with a lab certificate
//! (`MOTCUA_TEST_DATABASE_CA_FILE`).

use std::time::Duration;

use motcua_tests::{
    dossier_json, fresh_postgres_database, postgres_server_url, random_file, Gateway, Kiosk,
    KioskSettings,
};

#[tokio::test(flavor = "multi_thread")]
async fn the_gateway_reaches_postgresql_over_verified_tls() -> anyhow::Result<()> {
    let Some(server) = postgres_server_url()? else {
        return Ok(());
    };
    let ca = std::env::var("MOTCUA_TEST_DATABASE_CA_FILE").map_err(|_| {
        anyhow::anyhow!(
            "MOTCUA_TEST_DATABASE_CA_FILE is not set: run the README's test command \
             (scripts/test.sh), which starts PostgreSQL with TLS"
        )
    })?;
    let tmp = tempfile::tempdir()?;
    let db = fresh_postgres_database(&server).await?;
    let database = db.rsplit('/').next().unwrap_or_default().to_owned();
    let tls_url = format!("{db}?sslmode=verify-full");

    // Without the CA the server's certificate cannot be verified: the gateway does not start.
    let refused = Gateway::start(&tmp.path().join("refused"), Some(&tls_url), 0);
    let message = match refused {
        Ok(_) => anyhow::bail!("the gateway trusted a PostgreSQL server it cannot verify"),
        Err(e) => format!("{e:#}"),
    };
    assert!(
        message.to_lowercase().contains("certificate"),
        "the refusal does not say why: {message}"
    );

    // With it, everything goes through: a kiosk enrols and delivers.
    let gateway = Gateway::start_with(
        &tmp.path().join("gateway"),
        Some(&tls_url),
        0,
        &["--database-ca-file", &ca],
    )?;
    let mut kiosk = Kiosk::enrolled(&tmp.path().join("kiosk"), &KioskSettings::new(&gateway))?;
    random_file(&tmp.path().join("scan.pdf"), 40_000)?;
    kiosk.submit(&dossier_json(tmp.path(), "1.001193", &["scan.pdf"])?)?;
    kiosk.start_daemon()?;
    kiosk.wait_delivered(
        Duration::from_secs(60),
        "delivery through PostgreSQL over TLS",
    )?;
    assert_eq!(gateway.stats().await?["dossiers"], 1);

    // And PostgreSQL itself says the gateway's connections are encrypted.
    let (client, conn) = tokio_postgres::connect(&server, tokio_postgres::NoTls).await?;
    tokio::spawn(conn);
    let row = client
        .query_one(
            "SELECT count(*) FILTER (WHERE s.ssl), count(*) FROM pg_stat_activity a \
             JOIN pg_stat_ssl s USING (pid) WHERE a.datname = $1",
            &[&database],
        )
        .await?;
    let (encrypted, all): (i64, i64) = (row.get(0), row.get(1));
    assert!(
        all > 0 && encrypted == all,
        "{encrypted} of {all} connections to {database} use TLS"
    );
    Ok(())
}
