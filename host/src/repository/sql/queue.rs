//! `repository` → sql → queue: [`PartitionQueue`] — the `BH_PARTITION_WORK` rows through which
//! a `workers: remote` manager hands partitions to `batch-host worker` processes. A claim takes
//! the oldest offered partition (or one whose lease lapsed) under `FOR UPDATE SKIP LOCKED` on
//! PostgreSQL, so concurrent workers never take the same one; SQLite's single writer gives the
//! same guarantee within one machine.

use super::rows::*;
use super::*;
use crate::domain::ExecutionContext;
use crate::repository::{PartitionClaim, PartitionQueue};

/// The rows a claim may take: offered ones, and claimed ones whose lease lapsed, of executions
/// that are not stopping.
const CLAIMABLE: &str = "FROM BH_PARTITION_WORK W JOIN BATCH_JOB_EXECUTION E ON E.JOB_EXECUTION_ID = W.JOB_EXECUTION_ID \
     WHERE (W.STATUS = 'READY' OR (W.STATUS = 'CLAIMED' AND W.LEASE_UNTIL < $1)) AND E.STATUS IN ('STARTING', 'STARTED') \
     ORDER BY W.JOB_EXECUTION_ID, W.STEP_NAME LIMIT 1";

fn until(lease: std::time::Duration) -> NaiveDateTime {
    ts(now() + chrono::Duration::from_std(lease).unwrap_or(chrono::Duration::seconds(30)))
}

impl PartitionQueue for SqlRepository {
    async fn offer_partitions(
        &self,
        job_execution_id: Id,
        worker_step: &str,
        partitions: &[(String, ExecutionContext)],
    ) -> Result<(), RepositoryError> {
        on_db!(self, pool => {
            let mut tx = pool.begin_write().await?;
            for (name, ctx) in partitions {
                sqlx::query("INSERT INTO BH_PARTITION_WORK (JOB_EXECUTION_ID, STEP_NAME, WORKER_STEP, PARTITION_CONTEXT, STATUS) VALUES ($1, $2, $3, $4, 'READY') ON CONFLICT (JOB_EXECUTION_ID, STEP_NAME) DO NOTHING")
                    .bind(job_execution_id).bind(name).bind(worker_step).bind(ctx.to_jackson_json())
                    .execute(&mut *tx).await?;
            }
            tx.commit().await?;
            Ok(())
        })
    }

    async fn claim_partition(
        &self,
        owner: &str,
        lease: std::time::Duration,
    ) -> Result<Option<PartitionClaim>, RepositoryError> {
        let select = match &self.backend {
            Backend::Postgres(_) => format!(
                "SELECT W.JOB_EXECUTION_ID, W.STEP_NAME {CLAIMABLE} FOR UPDATE OF W SKIP LOCKED"
            ),
            Backend::Sqlite(_) => format!("SELECT W.JOB_EXECUTION_ID, W.STEP_NAME {CLAIMABLE}"),
        };
        on_db!(self, pool => {
            let mut tx = pool.begin_write().await?;
            let Some(row) = sqlx::query(q(select)).bind(ts(now())).fetch_optional(&mut *tx).await? else {
                return Ok(None);
            };
            let (id, name): (i64, String) = (row.try_get(0)?, row.try_get(1)?);
            let row = sqlx::query("UPDATE BH_PARTITION_WORK SET STATUS = 'CLAIMED', CLAIMED_BY = $1, LEASE_UNTIL = $2, ATTEMPTS = ATTEMPTS + 1 WHERE JOB_EXECUTION_ID = $3 AND STEP_NAME = $4 RETURNING WORKER_STEP, PARTITION_CONTEXT, ATTEMPTS")
                .bind(crate::domain::fit(owner, 255)).bind(until(lease)).bind(id).bind(&name)
                .fetch_one(&mut *tx).await?;
            let text: String = row.try_get(1)?;
            let context = ExecutionContext::from_jackson_json(&text).map_err(|source| {
                RepositoryError::CorruptContext { what: "partition of job execution", id, source }
            })?;
            let claim = PartitionClaim {
                job_execution_id: id,
                step_name: name,
                worker_step: row.try_get(0)?,
                context,
                attempts: row.try_get(2)?,
            };
            tx.commit().await?;
            Ok(Some(claim))
        })
    }

    async fn renew_partition(
        &self,
        job_execution_id: Id,
        step_name: &str,
        owner: &str,
        lease: std::time::Duration,
    ) -> Result<bool, RepositoryError> {
        on_db!(self, pool => {
            let done = sqlx::query("UPDATE BH_PARTITION_WORK SET LEASE_UNTIL = $1 WHERE JOB_EXECUTION_ID = $2 AND STEP_NAME = $3 AND CLAIMED_BY = $4 AND STATUS = 'CLAIMED'")
                .bind(until(lease)).bind(job_execution_id).bind(step_name).bind(crate::domain::fit(owner, 255))
                .execute(pool).await?;
            Ok(done.rows_affected() == 1)
        })
    }

    async fn finish_partition(
        &self,
        job_execution_id: Id,
        step_name: &str,
        owner: &str,
    ) -> Result<(), RepositoryError> {
        on_db!(self, pool => {
            sqlx::query("UPDATE BH_PARTITION_WORK SET STATUS = 'DONE', LEASE_UNTIL = NULL WHERE JOB_EXECUTION_ID = $1 AND STEP_NAME = $2 AND CLAIMED_BY = $3")
                .bind(job_execution_id).bind(step_name).bind(crate::domain::fit(owner, 255))
                .execute(pool).await?;
            Ok(())
        })
    }

    async fn partition_states(
        &self,
        job_execution_id: Id,
    ) -> Result<Vec<(String, String, Option<String>)>, RepositoryError> {
        on_db!(self, pool => {
            let rows = sqlx::query("SELECT STEP_NAME, STATUS, CLAIMED_BY FROM BH_PARTITION_WORK WHERE JOB_EXECUTION_ID = $1 ORDER BY STEP_NAME")
                .bind(job_execution_id).fetch_all(pool).await?;
            rows.iter()
                .map(|r| Ok((r.try_get(0)?, r.try_get(1)?, r.try_get(2)?)))
                .collect::<Result<_, sqlx::Error>>()
                .map_err(RepositoryError::from)
        })
    }
}
