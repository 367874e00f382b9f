//! `gateway ca …`: the province's certificate authority, made and used offline on the gateway
//! machine. Private keys are written 0600 and never over an existing file.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use clap::{Subcommand, ValueEnum};
use motcua_gateway::Role;

const DAY: u64 = 24 * 3600;

#[derive(Subcommand)]
pub(crate) enum CaCommand {
    /// Make a new CA and the gateway's server certificate: DIR/ca.crt, DIR/ca.key (0600),
    /// DIR/tls.crt (server certificate then CA), DIR/tls.key (0600), and the provisioning key
    /// DIR/provisioning.key (0600) with DIR/provisioning.pub. Refuses to overwrite the CA.
    /// `ca provisioning-key` makes only the provisioning key, keeping one that is there.
    Init {
        /// Directory for the four files (created if missing).
        #[arg(long)]
        dir: PathBuf,
        /// A DNS name or IP address kiosks reach the gateway by (repeat for several).
        #[arg(long = "host", required = true)]
        hosts: Vec<String>,
        /// The CA's name, e.g. "motcua Tỉnh Lào Cai".
        #[arg(long, default_value = "motcua CA")]
        name: String,
        /// Lifetime of the CA in days (kiosks trust it until then).
        #[arg(long, default_value_t = 7300)]
        days: u64,
    },
    /// Make DIR/provisioning.key (0600) and DIR/provisioning.pub if missing (kept if there):
    /// the key that signs setup codes, and its public line for kiosks.
    ProvisioningKey {
        /// The CA directory made by `gateway ca init`.
        #[arg(long)]
        dir: PathBuf,
    },
    /// Issue a new server certificate with the existing CA (new names, or before expiry),
    /// replacing DIR/tls.crt and DIR/tls.key; then `systemctl reload motcua-gateway`.
    ServerCert {
        /// The CA directory made by `gateway ca init`.
        #[arg(long)]
        dir: PathBuf,
        /// A DNS name or IP address of the gateway (repeat for several).
        #[arg(long = "host", required = true)]
        hosts: Vec<String>,
        /// Lifetime in days.
        #[arg(long, default_value_t = 730)]
        days: u64,
    },
    /// Issue a role certificate: writes PREFIX.crt and PREFIX.key (0600), prints its serial
    /// (what `POST /v1/admin/certificates/{serial}/revoke` takes) and fingerprint.
    Issue {
        /// The CA directory made by `gateway ca init`.
        #[arg(long)]
        dir: PathBuf,
        /// What the holder may do.
        #[arg(long, value_enum)]
        role: RoleArg,
        /// The holder: a person's name or the system's.
        #[arg(long)]
        name: String,
        /// Path prefix of the two files written.
        #[arg(long)]
        out: PathBuf,
        /// Lifetime in days.
        #[arg(long, default_value_t = 365)]
        days: u64,
    },
}

/// The roles a certificate can be issued for here (devices enrol by themselves).
#[derive(Clone, Copy, ValueEnum)]
pub(crate) enum RoleArg {
    /// The provincial one-stop system: status changes, dossiers, the export feed of scans.
    System,
    /// A technician: the fleet, re-enrolment approvals, revocation; never citizens' scans.
    Technician,
    /// An auditor: reads scanned documents and statistics.
    Auditor,
}

impl From<RoleArg> for Role {
    fn from(r: RoleArg) -> Self {
        match r {
            RoleArg::System => Role::System,
            RoleArg::Technician => Role::Technician,
            RoleArg::Auditor => Role::Auditor,
        }
    }
}

fn days(n: u64) -> anyhow::Result<Duration> {
    anyhow::ensure!(n > 0, "--days must be at least 1");
    Ok(Duration::from_secs(n.saturating_mul(DAY)))
}

pub(crate) fn run(command: CaCommand) -> anyhow::Result<()> {
    match command {
        CaCommand::Init {
            dir,
            hosts,
            name,
            days: n,
        } => {
            let pki = motcua_gateway::ca_init(&dir, &hosts, &name, days(n)?)
                .with_context(|| format!("cannot make the CA in {}", dir.display()))?;
            println!("CA certificate:      {}", pki.ca_cert_file.display());
            println!("CA key (secret):     {}", pki.ca_key_file.display());
            println!("server certificate:  {}", pki.tls_cert_file.display());
            println!("server key (secret): {}", pki.tls_key_file.display());
            println!("CA SHA-256 fingerprint: {}", pki.ca_fingerprint);
            let key = motcua_gateway::provisioning_key_init(&dir).with_context(|| {
                format!("cannot make the provisioning key in {}", dir.display())
            })?;
            println!("provisioning key (secret): {}", key.key_file.display());
            println!(
                "provisioning public key:   {} ({})",
                key.public_file.display(),
                key.public_key
            );
        }
        CaCommand::ProvisioningKey { dir } => {
            let key = motcua_gateway::provisioning_key_init(&dir).with_context(|| {
                format!("cannot make the provisioning key in {}", dir.display())
            })?;
            let state = if key.created {
                "made"
            } else {
                "kept (it was there)"
            };
            println!(
                "provisioning key (secret): {} {state}",
                key.key_file.display()
            );
            println!(
                "provisioning public key:   {} ({})",
                key.public_file.display(),
                key.public_key
            );
        }
        CaCommand::ServerCert {
            dir,
            hosts,
            days: n,
        } => {
            let pki =
                motcua_gateway::ca_server_cert(&dir, &hosts, days(n)?).with_context(|| {
                    format!(
                        "cannot issue a server certificate with the CA in {}",
                        dir.display()
                    )
                })?;
            println!("server certificate:  {}", pki.tls_cert_file.display());
            println!("server key (secret): {}", pki.tls_key_file.display());
            println!("a running gateway takes it on SIGHUP (systemctl reload motcua-gateway)");
        }
        CaCommand::Issue {
            dir,
            role,
            name,
            out,
            days: n,
        } => {
            anyhow::ensure!(!name.trim().is_empty(), "--name is empty");
            let (issued, crt, key) =
                motcua_gateway::ca_issue(&dir, role.into(), &name, &out, days(n)?).with_context(
                    || {
                        format!(
                            "cannot issue a certificate with the CA in {}",
                            dir.display()
                        )
                    },
                )?;
            println!("certificate:    {}", crt.display());
            println!("key (secret):   {}", key.display());
            println!("role:           {}", issued.identity.role);
            println!("serial:         {}", issued.identity.serial);
            println!("fingerprint:    {}", issued.identity.fingerprint);
        }
    }
    Ok(())
}
