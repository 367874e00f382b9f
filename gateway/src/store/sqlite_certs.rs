//! Devices and certificates on SQLite: enrolment, renewal's first use, revocation, approvals
//! and the fleet. Each change is one `BEGIN IMMEDIATE` transaction, so its checks cannot race
//! another writer.

use rusqlite::{params, OptionalExtension, TransactionBehavior};

use super::sqlite::SqliteStore;
use super::{queries, CertificateRow, Enrolment, FleetDevice, NewCertificate};
use crate::GatewayError;

fn unix_now() -> i64 {
    chrono::Utc::now().timestamp()
}

fn insert(c: &rusqlite::Connection, cert: &NewCertificate) -> rusqlite::Result<usize> {
    c.execute(
        queries::CERT_INSERT,
        params![
            cert.serial,
            cert.role.as_str(),
            cert.name,
            cert.site,
            cert.not_before,
            cert.not_after,
            cert.issued_at,
            cert.issued_us
        ],
    )
}

fn serials(
    stmt: &mut rusqlite::Statement<'_>,
    p: impl rusqlite::Params,
) -> rusqlite::Result<Vec<String>> {
    stmt.query_map(p, |r| r.get(0))?.collect()
}

impl SqliteStore {
    pub async fn enroll_device(
        &self,
        cert: &NewCertificate,
        now: &str,
    ) -> Result<Enrolment, GatewayError> {
        let (cert, now) = (cert.clone(), now.to_string());
        self.call("record the device enrolment", move |c| {
            let tx = c.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let site = cert.site.clone().unwrap_or_default();
            let new = tx.execute(queries::DEVICE_CREATE, params![cert.name, site, now])? == 1;
            if !new {
                tx.execute(queries::DEVICE_LOCK, [&cert.name])?;
                if tx.execute(queries::APPROVAL_TAKE, params![cert.name, unix_now()])? == 0 {
                    return Ok(Enrolment::NeedsApproval);
                }
            }
            let revoked = serials(
                &mut tx.prepare(queries::DEVICE_CERTS_REVOKE)?,
                params![now, "re-enrolled", cert.name],
            )?;
            tx.execute(queries::DEVICE_SET_ENROLLED, params![site, now, cert.name])?;
            insert(&tx, &cert)?;
            tx.commit()?;
            Ok(Enrolment::Enrolled { revoked })
        })
        .await
    }

    pub async fn record_certificate(&self, cert: &NewCertificate) -> Result<(), GatewayError> {
        let cert = cert.clone();
        self.call("record a certificate", move |c| {
            insert(c, &cert).map(|_| ())
        })
        .await
    }

    pub async fn renew_certificate(
        &self,
        old_serial: &str,
        cert: &NewCertificate,
    ) -> Result<bool, GatewayError> {
        let (old, cert) = (old_serial.to_string(), cert.clone());
        self.call("record a renewed certificate", move |c| {
            let tx = c.transaction_with_behavior(TransactionBehavior::Immediate)?;
            tx.execute(queries::DEVICE_LOCK, [&cert.name])?;
            if tx.execute(queries::CERT_HOLD_LIVE, [&old])? == 0 {
                return Ok(false);
            }
            insert(&tx, &cert)?;
            tx.commit()?;
            Ok(true)
        })
        .await
    }

    pub async fn certificate(&self, serial: &str) -> Result<Option<CertificateRow>, GatewayError> {
        let serial = serial.to_string();
        self.call("look up a certificate", move |c| {
            c.query_row(queries::CERT_SELECT, [serial], |r| queries::certificate(r))
                .optional()
        })
        .await
    }

    pub async fn first_use(
        &self,
        serial: &str,
        device_id: &str,
        issued_us: i64,
        now: &str,
    ) -> Result<Vec<String>, GatewayError> {
        let (serial, device, now) = (serial.to_string(), device_id.to_string(), now.to_string());
        self.call("record the first use of a certificate", move |c| {
            let tx = c.transaction_with_behavior(TransactionBehavior::Immediate)?;
            if tx.execute(queries::CERT_FIRST_USE, params![now, serial])? == 0 {
                return Ok(Vec::new());
            }
            let superseded = serials(
                &mut tx.prepare(queries::CERTS_SUPERSEDE)?,
                params![now, device, issued_us],
            )?;
            tx.commit()?;
            Ok(superseded)
        })
        .await
    }

    pub async fn revoke_device(
        &self,
        device_id: &str,
        reason: &str,
        now: &str,
    ) -> Result<Option<Vec<String>>, GatewayError> {
        let (device, reason, now) = (device_id.to_string(), reason.to_string(), now.to_string());
        self.call("revoke a device", move |c| {
            let tx = c.transaction_with_behavior(TransactionBehavior::Immediate)?;
            if tx.execute(queries::DEVICE_LOCK, [&device])? == 0 {
                return Ok(None);
            }
            // Its unused setup codes go with it, so a leaked one cannot bring it back.
            tx.execute(super::provisioning::TOKENS_WITHDRAW, params![now, device])?;
            serials(
                &mut tx.prepare(queries::DEVICE_CERTS_REVOKE)?,
                params![now, reason, device],
            )?;
            let all = serials(&mut tx.prepare(queries::DEVICE_SERIALS)?, [&device])?;
            tx.commit()?;
            Ok(Some(all))
        })
        .await
    }

    pub async fn revoke_certificate(
        &self,
        serial: &str,
        reason: &str,
        now: &str,
    ) -> Result<(), GatewayError> {
        let (serial, reason, now) = (serial.to_string(), reason.to_string(), now.to_string());
        self.call("revoke a certificate", move |c| {
            let tx = c.transaction_with_behavior(TransactionBehavior::Immediate)?;
            tx.execute(queries::CERT_REVOKE, params![now, reason, serial])?;
            tx.execute(queries::CERT_INSERT_REVOKED, params![serial, now, reason])?;
            tx.commit()
        })
        .await
    }

    pub async fn allow_reenrolment(
        &self,
        device_id: &str,
        technician: &str,
        now: &str,
        expires_at: i64,
    ) -> Result<bool, GatewayError> {
        let (device, tech, now) = (
            device_id.to_string(),
            technician.to_string(),
            now.to_string(),
        );
        self.call("record a re-enrolment approval", move |c| {
            let tx = c.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let known = tx
                .query_row(queries::DEVICE_SITE, [&device], |_| Ok(()))
                .optional()?
                .is_some();
            if known {
                tx.execute(
                    queries::APPROVAL_UPSERT,
                    params![device, tech, now, expires_at],
                )?;
            }
            tx.commit()?;
            Ok(known)
        })
        .await
    }

    pub async fn touch_device(&self, device_id: &str, now: &str) -> Result<(), GatewayError> {
        let (device, now) = (device_id.to_string(), now.to_string());
        self.call("record when a device was seen", move |c| {
            c.execute(queries::DEVICE_TOUCH, params![now, device])
                .map(|_| ())
        })
        .await
    }

    pub async fn fleet(&self) -> Result<Vec<FleetDevice>, GatewayError> {
        self.call("list the devices", |c| {
            c.prepare(queries::FLEET)?
                .query_map([], |r| queries::fleet_device(r))?
                .collect()
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use motcua_identity::Role;

    fn cert(serial: &str, device: &str) -> NewCertificate {
        NewCertificate {
            serial: serial.into(),
            role: Role::Device,
            name: device.into(),
            site: Some("000.17.22.H56".into()),
            not_before: 0,
            not_after: unix_now() + 3600,
            issued_at: "2026-05-31T09:15:00+07:00".into(),
            issued_us: chrono::Utc::now().timestamp_micros(),
        }
    }

    /// The renewal's check and insert are one transaction: with the presented certificate
    /// revoked (as a revocation committed after the request was authenticated leaves it),
    /// nothing is recorded.
    #[tokio::test]
    async fn a_renewal_presenting_a_revoked_certificate_records_nothing() {
        let dir = tempfile::tempdir().expect("dir");
        let store = SqliteStore::open(&dir.path().join("g.sqlite3"))
            .await
            .expect("open");
        let now = "2026-05-31T09:15:00+07:00";
        store
            .enroll_device(&cert("01", "KIOSK-1"), now)
            .await
            .expect("enrol");
        assert!(store
            .renew_certificate("01", &cert("02", "KIOSK-1"))
            .await
            .expect("renew"));
        store
            .revoke_device("KIOSK-1", "test", now)
            .await
            .expect("revoke");
        assert!(!store
            .renew_certificate("01", &cert("03", "KIOSK-1"))
            .await
            .expect("renew"));
        assert_eq!(store.certificate("03").await.expect("read"), None);
        // A serial the gateway never recorded renews nothing either.
        assert!(!store
            .renew_certificate("ff", &cert("04", "KIOSK-1"))
            .await
            .expect("renew"));
        // And a known device id needs an approval, revoked or not.
        assert_eq!(
            store
                .enroll_device(&cert("05", "KIOSK-1"), now)
                .await
                .expect("enrol"),
            Enrolment::NeedsApproval
        );
    }
}
