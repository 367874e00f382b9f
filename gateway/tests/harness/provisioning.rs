//! What the provisioning scenarios share: the harness gateway's provisioning key and profile,
//! setup sheets from the technician, provisioning a kiosk with a code's token, and raw SQL on
//! the test database (to move a token's expiry into the past).

use std::path::PathBuf;

use motcua_domain::provisioning::{Provisioned, SetupSheet};
use motcua_identity::setup_code::{SetupCode, TrustedProvisioningKey};
use motcua_identity::DeviceKey;
use reqwest::{Method, StatusCode};
use serde_json::Value;

use super::{client, Cred, Harness};

/// The profile every harness gateway has.
pub const PROFILE: &str = "commune-desk";
/// Its text (Vietnamese, to check the bytes and hash survive).
pub const PROFILE_TOML: &str =
    "# Hồ sơ cấu hình thử / test profile\n[receipt]\nplace = \"Xã Tả Van\"\n";
/// The address written in the harness's setup codes.
pub const PUBLIC_URL: &str = "https://gateway.test:8700";

impl Harness {
    /// The CA directory (with `provisioning.key`).
    pub fn pki_dir(&self) -> PathBuf {
        self.dir.path().join("pki")
    }

    /// The profiles directory.
    pub fn profiles_dir(&self) -> PathBuf {
        self.dir.path().join("profiles")
    }

    /// Makes the provisioning key and the profile (idempotent) and sets them in `config`.
    pub fn with_provisioning(&self, config: &mut motcua_gateway::GatewayConfig) {
        let keys =
            motcua_gateway::provisioning_key_init(&self.pki_dir()).expect("provisioning key");
        std::fs::create_dir_all(self.profiles_dir()).expect("profiles dir");
        let profile = self.profiles_dir().join(format!("{PROFILE}.toml"));
        if !profile.exists() {
            std::fs::write(&profile, PROFILE_TOML).expect("profile");
        }
        config.provisioning_key_file = Some(keys.key_file);
        config.profiles_dir = self.profiles_dir();
        config.public_url = Some(PUBLIC_URL.into());
    }

    /// The public key kiosks of this province trust.
    pub fn trusted_key(&self) -> TrustedProvisioningKey {
        std::fs::read_to_string(self.pki_dir().join("provisioning.pub"))
            .expect("provisioning.pub")
            .parse()
            .expect("public key line")
    }

    /// A setup code opened as a kiosk does.
    pub fn open_code(&self, code: &str) -> SetupCode {
        self.trusted_key()
            .open(code, chrono::Utc::now().timestamp())
            .expect("the code opens with the province's public key")
    }

    /// The technician's setup sheet for `body`.
    pub async fn sheet(&self, body: Value) -> SetupSheet {
        let r = self
            .req(
                Method::POST,
                "/v1/admin/provisioning",
                Some(&self.technician),
            )
            .json(&body)
            .send()
            .await
            .expect("sheet");
        assert_eq!(r.status(), StatusCode::OK);
        r.json().await.expect("sheet body")
    }

    /// A kiosk presenting `token` with `key`'s CSR.
    pub async fn provision(&self, token: &str, key: &DeviceKey) -> reqwest::Response {
        self.req(Method::POST, "/v1/devices/provision", None)
            .json(&serde_json::json!({"token": token, "csr_pem": key.csr_pem}))
            .send()
            .await
            .expect("provision request")
    }

    /// Provisions a fresh kiosk with `code`: its answer and credential.
    pub async fn provision_kiosk(&self, code: &str) -> (Provisioned, Cred) {
        let c = self.open_code(code);
        let key = DeviceKey::generate(&c.device_id, &c.site).expect("key");
        let r = self.provision(&c.token, &key).await;
        assert_eq!(r.status(), StatusCode::OK);
        let p: Provisioned = r.json().await.expect("provisioned");
        let cred = self.cred_of(&p, &key);
        (p, cred)
    }

    /// The credential of a provisioning answer.
    pub fn cred_of(&self, p: &Provisioned, key: &DeviceKey) -> Cred {
        Cred {
            client: client(
                &self.ca_pem,
                Some((&p.certificate.certificate_pem, &key.key_pem)),
            ),
            serial: p.certificate.serial.clone(),
            cert_pem: p.certificate.certificate_pem.clone(),
            key_pem: key.key_pem.clone(),
        }
    }

    /// Runs `sql` on the gateway's database, whichever backend.
    pub async fn exec_sql(&self, sql: &str) {
        match &self.pg {
            Some(pg) => super::pg_admin(&pg.url, sql).await,
            None => {
                let c = rusqlite::Connection::open(self.dir.path().join("gateway.sqlite3"))
                    .expect("sqlite");
                c.execute_batch(sql).expect("sql");
            }
        }
    }
}
