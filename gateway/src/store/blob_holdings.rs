//! Which of a list of blobs a site holds: the answer of `POST /v1/blobs/held`, asked by a kiosk
//! before it creates an upload. A site holds a blob when one of its devices uploaded it
//! completely and the gateway verified it (`blob_sites`, see [`super::authorization`]); what
//! other sites hold is never part of the answer.

use crate::GatewayError;

/// `$1` site, `$2`… the hashes (one placeholder each, numbered in order of appearance): the
/// verified blobs among them that the site holds, with their size.
fn held_sql(hashes: usize) -> String {
    let list: Vec<String> = (0..hashes).map(|i| format!("${}", i + 2)).collect();
    format!(
        "SELECT b.sha256, b.size FROM blobs b JOIN blob_sites s ON s.sha256 = b.sha256
         WHERE s.site = $1 AND b.sha256 IN ({})",
        list.join(", ")
    )
}

impl super::Store {
    /// The blobs among `sha256s` that `site` holds, with their size, in the order asked and
    /// each once. The caller bounds the list (`MAX_HELD_QUERY`).
    pub async fn held_blobs(
        &self,
        site: &str,
        sha256s: &[String],
    ) -> Result<Vec<(String, u64)>, GatewayError> {
        if sha256s.is_empty() {
            return Ok(Vec::new());
        }
        let sql = held_sql(sha256s.len());
        let found: Vec<(String, i64)> = match self {
            super::Store::Sqlite(s) => {
                let mut params = vec![site.to_string()];
                params.extend(sha256s.iter().cloned());
                s.call("look up the blobs a site holds", move |c| {
                    c.prepare(&sql)?
                        .query_map(rusqlite::params_from_iter(params), |r| {
                            Ok((r.get(0)?, r.get(1)?))
                        })?
                        .collect()
                })
                .await?
            }
            super::Store::Postgres(s) => {
                let read = s.err("look up the blobs a site holds");
                let mut params: Vec<&(dyn tokio_postgres::types::ToSql + Sync)> = vec![&site];
                for h in sha256s {
                    params.push(h);
                }
                s.client()
                    .await?
                    .query(&sql, &params)
                    .await
                    .map_err(&read)?
                    .iter()
                    .map(|r| Ok((r.try_get(0)?, r.try_get(1)?)))
                    .collect::<Result<_, tokio_postgres::Error>>()
                    .map_err(read)?
            }
        };
        let mut held = Vec::new();
        for sha in sha256s {
            if held.iter().any(|(h, _): &(String, u64)| h == sha) {
                continue;
            }
            if let Some((_, size)) = found.iter().find(|(h, _)| h == sha) {
                held.push((sha.clone(), size.max(&0).unsigned_abs()));
            }
        }
        Ok(held)
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_list_prepares_on_sqlite_with_placeholders_in_order() {
        let conn = rusqlite::Connection::open_in_memory().expect("memory");
        conn.execute_batch(super::super::queries::SCHEMA_VERSION_CREATE)
            .expect("schema");
        for (_, sql) in super::super::MIGRATIONS {
            conn.execute_batch(sql).expect("migration");
        }
        let sql = super::held_sql(3);
        let stmt = conn.prepare(&sql).unwrap_or_else(|e| panic!("{sql}: {e}"));
        assert_eq!(stmt.parameter_count(), 4);
        for i in 1..=4 {
            assert_eq!(stmt.parameter_name(i), Some(format!("${i}").as_str()));
        }
    }
}
