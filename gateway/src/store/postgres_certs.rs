//! Devices and certificates on PostgreSQL: the same statements as on SQLite. An enrolment
//! first inserts the device row (`DEVICE_CREATE`): a second enrolment of the same new id, at
//! this gateway or another, waits for the first to commit and then finds the id known, so it
//! needs a technician's approval; an approval is used up by one `DELETE`, which two enrolments
//! cannot both win under READ COMMITTED.

use super::postgres::PgStore;
use super::{queries, CertificateRow, Enrolment, FleetDevice, NewCertificate};
use crate::GatewayError;

fn unix_now() -> i64 {
    chrono::Utc::now().timestamp()
}

fn serials(rows: &[tokio_postgres::Row]) -> Vec<String> {
    rows.iter().map(|r| r.get(0)).collect()
}

impl PgStore {
    async fn insert(
        &self,
        client: &impl deadpool_postgres::GenericClient,
        cert: &NewCertificate,
    ) -> Result<(), GatewayError> {
        client
            .execute(
                queries::CERT_INSERT,
                &[
                    &cert.serial,
                    &cert.role.as_str(),
                    &cert.name,
                    &cert.site,
                    &cert.not_before,
                    &cert.not_after,
                    &cert.issued_at,
                    &cert.issued_us,
                ],
            )
            .await
            .map(|_| ())
            .map_err(self.err("record a certificate"))
    }

    pub async fn enroll_device(
        &self,
        cert: &NewCertificate,
        now: &str,
    ) -> Result<Enrolment, GatewayError> {
        let mut client = self.client().await?;
        let e = |a| self.err(a);
        let tx = client
            .transaction()
            .await
            .map_err(e("start a transaction"))?;
        let site = cert.site.clone().unwrap_or_default();
        let new = tx
            .execute(queries::DEVICE_CREATE, &[&cert.name, &site, &now])
            .await
            .map_err(e("record the device"))?
            == 1;
        if !new {
            tx.execute(queries::DEVICE_LOCK, &[&cert.name])
                .await
                .map_err(e("lock the device row"))?;
            let approved = tx
                .execute(queries::APPROVAL_TAKE, &[&cert.name, &unix_now()])
                .await
                .map_err(e("use a re-enrolment approval"))?;
            if approved == 0 {
                return Ok(Enrolment::NeedsApproval);
            }
        }
        let revoked = tx
            .query(
                queries::DEVICE_CERTS_REVOKE,
                &[&now, &"re-enrolled", &cert.name],
            )
            .await
            .map_err(e("revoke the device's older certificates"))?;
        tx.execute(queries::DEVICE_SET_ENROLLED, &[&site, &now, &cert.name])
            .await
            .map_err(e("record the device enrolment"))?;
        self.insert(&tx, cert).await?;
        tx.commit().await.map_err(e("commit an enrolment"))?;
        Ok(Enrolment::Enrolled {
            revoked: serials(&revoked),
        })
    }

    pub async fn record_certificate(&self, cert: &NewCertificate) -> Result<(), GatewayError> {
        let client = self.client().await?;
        self.insert(&client, cert).await
    }

    pub async fn renew_certificate(
        &self,
        old_serial: &str,
        cert: &NewCertificate,
    ) -> Result<bool, GatewayError> {
        let mut client = self.client().await?;
        let e = |a| self.err(a);
        let tx = client
            .transaction()
            .await
            .map_err(e("start a transaction"))?;
        tx.execute(queries::DEVICE_LOCK, &[&cert.name])
            .await
            .map_err(e("lock the device row"))?;
        let live = tx
            .execute(queries::CERT_HOLD_LIVE, &[&old_serial])
            .await
            .map_err(e("check the presented certificate"))?;
        if live == 0 {
            return Ok(false);
        }
        self.insert(&tx, cert).await?;
        tx.commit().await.map_err(e("commit a renewal"))?;
        Ok(true)
    }

    pub async fn certificate(&self, serial: &str) -> Result<Option<CertificateRow>, GatewayError> {
        let read = self.err("look up a certificate");
        let row = self
            .client()
            .await?
            .query_opt(queries::CERT_SELECT, &[&serial])
            .await
            .map_err(&read)?;
        row.as_ref()
            .map(queries::certificate)
            .transpose()
            .map_err(read)
    }

    pub async fn first_use(
        &self,
        serial: &str,
        device_id: &str,
        issued_us: i64,
        now: &str,
    ) -> Result<Vec<String>, GatewayError> {
        let mut client = self.client().await?;
        let e = |a| self.err(a);
        let tx = client
            .transaction()
            .await
            .map_err(e("start a transaction"))?;
        let first = tx
            .execute(queries::CERT_FIRST_USE, &[&now, &serial])
            .await
            .map_err(e("record the first use of a certificate"))?;
        if first == 0 {
            return Ok(Vec::new());
        }
        let superseded = tx
            .query(queries::CERTS_SUPERSEDE, &[&now, &device_id, &issued_us])
            .await
            .map_err(e("revoke superseded certificates"))?;
        tx.commit().await.map_err(e("commit a first use"))?;
        Ok(serials(&superseded))
    }

    pub async fn revoke_device(
        &self,
        device_id: &str,
        reason: &str,
        now: &str,
    ) -> Result<Option<Vec<String>>, GatewayError> {
        let mut client = self.client().await?;
        let e = |a| self.err(a);
        let tx = client
            .transaction()
            .await
            .map_err(e("start a transaction"))?;
        // Its unused setup codes go with it, so a leaked one cannot bring it back. Token rows
        // are locked before the device row, in the order a provisioning takes them.
        tx.execute(super::provisioning::TOKENS_WITHDRAW, &[&now, &device_id])
            .await
            .map_err(e("withdraw a device's setup codes"))?;
        let known = tx
            .execute(queries::DEVICE_LOCK, &[&device_id])
            .await
            .map_err(e("lock the device row"))?;
        if known == 0 {
            return Ok(None);
        }
        tx.query(queries::DEVICE_CERTS_REVOKE, &[&now, &reason, &device_id])
            .await
            .map_err(e("revoke a device's certificates"))?;
        let all = tx
            .query(queries::DEVICE_SERIALS, &[&device_id])
            .await
            .map_err(e("list a device's certificates"))?;
        tx.commit().await.map_err(e("commit a revocation"))?;
        Ok(Some(serials(&all)))
    }

    pub async fn revoke_certificate(
        &self,
        serial: &str,
        reason: &str,
        now: &str,
    ) -> Result<(), GatewayError> {
        let mut client = self.client().await?;
        let e = |a| self.err(a);
        let tx = client
            .transaction()
            .await
            .map_err(e("start a transaction"))?;
        tx.execute(queries::CERT_REVOKE, &[&now, &reason, &serial])
            .await
            .map_err(e("revoke a certificate"))?;
        tx.execute(queries::CERT_INSERT_REVOKED, &[&serial, &now, &reason])
            .await
            .map_err(e("record a revoked serial"))?;
        tx.commit().await.map_err(e("commit a revocation"))
    }

    pub async fn allow_reenrolment(
        &self,
        device_id: &str,
        technician: &str,
        now: &str,
        expires_at: i64,
    ) -> Result<bool, GatewayError> {
        let client = self.client().await?;
        let e = |a| self.err(a);
        if client
            .query_opt(queries::DEVICE_SITE, &[&device_id])
            .await
            .map_err(e("look up a device"))?
            .is_none()
        {
            return Ok(false);
        }
        client
            .execute(
                queries::APPROVAL_UPSERT,
                &[&device_id, &technician, &now, &expires_at],
            )
            .await
            .map_err(e("record a re-enrolment approval"))?;
        Ok(true)
    }

    pub async fn touch_device(&self, device_id: &str, now: &str) -> Result<(), GatewayError> {
        self.client()
            .await?
            .execute(queries::DEVICE_TOUCH, &[&now, &device_id])
            .await
            .map(|_| ())
            .map_err(self.err("record when a device was seen"))
    }

    pub async fn fleet(&self) -> Result<Vec<FleetDevice>, GatewayError> {
        let read = self.err("list the devices");
        self.client()
            .await?
            .query(queries::FLEET, &[])
            .await
            .map_err(&read)?
            .iter()
            .map(queries::fleet_device)
            .collect::<Result<_, _>>()
            .map_err(read)
    }
}
