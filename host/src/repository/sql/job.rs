//! `repository` → sql → job: [`JobRepository`] writes — job and step executions, chunk
//! commits with their dead letters, stop/abandon/recover and heartbeats.

use super::rows::*;
use super::*;

impl JobRepository for SqlRepository {
    async fn create_job_execution(
        &self,
        job_name: &str,
        params: &JobParameters,
        restartable: bool,
    ) -> Result<JobExecution, RepositoryError> {
        let job_key = params.job_key();
        let created = now();
        on_db!(self, pool => {
            let mut tx = pool.begin_write().await?;
            // A BATCH_JOB_SEQ value is taken only to create an instance, as Spring does: a
            // restart or a refused launch leaves the sequence alone (PostgreSQL's nextval is
            // not rolled back).
            let find = "SELECT JOB_INSTANCE_ID FROM BATCH_JOB_INSTANCE WHERE JOB_NAME = $1 AND JOB_KEY = $2";
            let existing: Option<i64> = sqlx::query_scalar(find)
                .bind(job_name).bind(&job_key)
                .fetch_optional(&mut *tx).await?;
            let instance_id = match existing {
                Some(id) => id,
                None => {
                    let new_id = tx.next_id(Seq::Job).await?;
                    sqlx::query("INSERT INTO BATCH_JOB_INSTANCE (JOB_INSTANCE_ID, VERSION, JOB_NAME, JOB_KEY) VALUES ($1, 0, $2, $3) ON CONFLICT (JOB_NAME, JOB_KEY) DO NOTHING")
                        .bind(new_id).bind(job_name).bind(&job_key)
                        .execute(&mut *tx).await?;
                    sqlx::query_scalar(find)
                        .bind(job_name).bind(&job_key)
                        .fetch_one(&mut *tx).await?
                }
            };
            tx.lock_instance(instance_id).await?;
            let instance = JobInstance { id: instance_id, job_name: job_name.to_owned(), job_key: job_key.clone() };

            // Spring's restart rules, checked under the instance lock.
            let previous = sqlx::query("SELECT JOB_EXECUTION_ID, STATUS FROM BATCH_JOB_EXECUTION WHERE JOB_INSTANCE_ID = $1 ORDER BY JOB_EXECUTION_ID DESC")
                .bind(instance_id)
                .fetch_all(&mut *tx).await?;
            if !restartable && !previous.is_empty() {
                return Err(RepositoryError::NotRestartable { job_name: job_name.into(), instance_id });
            }
            let identifying = params.iter().any(|(_, p)| p.identifying);
            for row in &previous {
                let execution_id: i64 = row.try_get(0)?;
                let st = status(row.try_get(1)?)?;
                if st.is_running() {
                    return Err(RepositoryError::ExecutionRunning { job_name: job_name.into(), execution_id });
                }
                if identifying && matches!(st, BatchStatus::Completed | BatchStatus::Abandoned) {
                    return Err(RepositoryError::InstanceComplete {
                        job_name: job_name.into(), instance_id, execution_id, status: st.to_string(),
                    });
                }
            }
            // The new execution inherits the job ExecutionContext of the last one.
            let inherited = match previous.first() {
                None => ExecutionContext::new(),
                Some(row) => {
                    let last: i64 = row.try_get(0)?;
                    let ctx = sqlx::query("SELECT SHORT_CONTEXT, SERIALIZED_CONTEXT FROM BATCH_JOB_EXECUTION_CONTEXT WHERE JOB_EXECUTION_ID = $1")
                        .bind(last).fetch_optional(&mut *tx).await?;
                    match ctx {
                        Some(r) => context(r.try_get(0)?, r.try_get(1)?, "job execution", last)?,
                        None => ExecutionContext::new(),
                    }
                }
            };

            let id = tx.next_id(Seq::JobExecution).await?;
            sqlx::query("INSERT INTO BATCH_JOB_EXECUTION (JOB_EXECUTION_ID, JOB_INSTANCE_ID, VERSION, CREATE_TIME, START_TIME, END_TIME, STATUS, EXIT_CODE, EXIT_MESSAGE, LAST_UPDATED) VALUES ($1, $2, 0, $3, NULL, NULL, $4, $5, '', $3)")
                .bind(id).bind(instance_id).bind(ts(created))
                .bind(BatchStatus::Starting.as_str()).bind(ExitStatus::unknown().code)
                .execute(&mut *tx).await?;
            for (name, kind, value, ident) in param_rows(params) {
                sqlx::query("INSERT INTO BATCH_JOB_EXECUTION_PARAMS (JOB_EXECUTION_ID, PARAMETER_NAME, PARAMETER_TYPE, PARAMETER_VALUE, IDENTIFYING) VALUES ($1, $2, $3, $4, $5)")
                    .bind(id).bind(name).bind(kind).bind(value).bind(ident)
                    .execute(&mut *tx).await?;
            }
            let (short, long) = split_context(inherited.to_jackson_json());
            sqlx::query("INSERT INTO BATCH_JOB_EXECUTION_CONTEXT (JOB_EXECUTION_ID, SHORT_CONTEXT, SERIALIZED_CONTEXT) VALUES ($1, $2, $3)")
                .bind(id).bind(short).bind(long)
                .execute(&mut *tx).await?;
            tx.commit().await?;
            Ok(JobExecution {
                id,
                instance,
                version: 0,
                parameters: params.clone(),
                status: BatchStatus::Starting,
                exit_status: ExitStatus::unknown(),
                create_time: created,
                start_time: None,
                end_time: None,
                last_updated: Some(created),
                context: inherited,
            })
        })
    }

    async fn update_job_execution(
        &self,
        execution: &mut JobExecution,
    ) -> Result<(), RepositoryError> {
        let updated = now();
        on_db!(self, pool => {
            let mut tx = pool.begin_write().await?;
            let n = sqlx::query("UPDATE BATCH_JOB_EXECUTION SET START_TIME = $1, END_TIME = $2, STATUS = $3, EXIT_CODE = $4, EXIT_MESSAGE = $5, LAST_UPDATED = $6, VERSION = VERSION + 1 WHERE JOB_EXECUTION_ID = $7 AND VERSION = $8")
                .bind(execution.start_time.map(ts)).bind(execution.end_time.map(ts))
                .bind(execution.status.as_str()).bind(exit_code(&execution.exit_status.code))
                .bind(exit_message(&execution.exit_status.description)).bind(ts(updated))
                .bind(execution.id).bind(execution.version)
                .execute(&mut *tx).await?.rows_affected();
            if n == 0 {
                return Err(RepositoryError::StaleVersion { what: "job execution", id: execution.id, version: execution.version });
            }
            let (short, long) = split_context(execution.context.to_jackson_json());
            sqlx::query("UPDATE BATCH_JOB_EXECUTION_CONTEXT SET SHORT_CONTEXT = $1, SERIALIZED_CONTEXT = $2 WHERE JOB_EXECUTION_ID = $3")
                .bind(short).bind(long).bind(execution.id)
                .execute(&mut *tx).await?;
            tx.commit().await?;
            execution.version += 1;
            execution.last_updated = Some(updated);
            Ok(())
        })
    }

    async fn request_stop(&self, execution_id: Id) -> Result<bool, RepositoryError> {
        on_db!(self, pool => {
            let n = sqlx::query("UPDATE BATCH_JOB_EXECUTION SET STATUS = 'STOPPING', LAST_UPDATED = $1 WHERE JOB_EXECUTION_ID = $2 AND STATUS IN ('STARTING', 'STARTED')")
                .bind(ts(now())).bind(execution_id).execute(pool).await?.rows_affected();
            Ok(n > 0)
        })
    }

    async fn abandon(&self, execution_id: Id) -> Result<bool, RepositoryError> {
        on_db!(self, pool => {
            let n = sqlx::query("UPDATE BATCH_JOB_EXECUTION SET STATUS = 'ABANDONED', VERSION = VERSION + 1, LAST_UPDATED = $1 WHERE JOB_EXECUTION_ID = $2 AND STATUS IN ('FAILED', 'STOPPED', 'UNKNOWN')")
                .bind(ts(now())).bind(execution_id).execute(pool).await?.rows_affected();
            Ok(n > 0)
        })
    }

    async fn record_job_source(
        &self,
        execution_id: Id,
        source: &JobSource,
    ) -> Result<(), RepositoryError> {
        let text = source.text.as_deref().filter(|t| t.len() <= MAX_JOB_TEXT);
        on_db!(self, pool => {
            sqlx::query("INSERT INTO BH_JOB_SOURCE (JOB_EXECUTION_ID, JOB_FILE, WORKDIR, JOB_TEXT) VALUES ($1, $2, $3, $4) ON CONFLICT (JOB_EXECUTION_ID) DO NOTHING")
                .bind(execution_id).bind(&source.file).bind(&source.workdir).bind(text)
                .execute(pool).await?;
            Ok(())
        })
    }

    async fn heartbeat(&self, execution_id: Id) -> Result<(), RepositoryError> {
        on_db!(self, pool => {
            sqlx::query("UPDATE BATCH_JOB_EXECUTION SET LAST_UPDATED = $1 WHERE JOB_EXECUTION_ID = $2")
                .bind(ts(now())).bind(execution_id).execute(pool).await?;
            Ok(())
        })
    }

    async fn record_owner(
        &self,
        execution_id: Id,
        owner: &crate::domain::ExecutionOwner,
    ) -> Result<(), RepositoryError> {
        on_db!(self, pool => {
            sqlx::query("INSERT INTO BH_EXECUTION_OWNER (JOB_EXECUTION_ID, HOST_NAME, PROCESS_ID, PROCESS_START) VALUES ($1, $2, $3, $4) ON CONFLICT (JOB_EXECUTION_ID) DO NOTHING")
                .bind(execution_id).bind(crate::domain::fit(&owner.host, 255)).bind(i64::from(owner.pid)).bind(crate::domain::fit(&owner.started, 100))
                .execute(pool).await?;
            Ok(())
        })
    }

    async fn recover(
        &self,
        execution_id: Id,
        stale_after: std::time::Duration,
        gone: Option<&str>,
    ) -> Result<Recovery, RepositoryError> {
        let at = now();
        on_db!(self, pool => {
            let mut tx = pool.begin_write().await?;
            let row = sqlx::query("SELECT STATUS, LAST_UPDATED FROM BATCH_JOB_EXECUTION WHERE JOB_EXECUTION_ID = $1")
                .bind(execution_id).fetch_optional(&mut *tx).await?;
            let Some(row) = row else { return Ok(Recovery::Missing) };
            let st = status(row.try_get(0)?)?;
            if !st.is_running() {
                return Ok(Recovery::NotRunning(st));
            }
            let last: Option<NaiveDateTime> = row.try_get(1)?;
            let age = last.map(|l| (at - from_ts(l)).num_milliseconds()).unwrap_or(i64::MAX);
            if gone.is_none() && age < stale_after.as_millis() as i64 {
                return Ok(Recovery::Alive { seconds_ago: age / 1000 });
            }
            let message = match gone {
                Some(why) => format!("recovered: {why} ({})", at.format("%Y-%m-%d %H:%M:%S")),
                None => format!("recovered: the process running it stopped heartbeating {}s before {}", age / 1000, at.format("%Y-%m-%d %H:%M:%S")),
            };
            sqlx::query("UPDATE BATCH_JOB_EXECUTION SET STATUS = 'FAILED', EXIT_CODE = 'FAILED', EXIT_MESSAGE = $1, END_TIME = $2, LAST_UPDATED = $2, VERSION = VERSION + 1 WHERE JOB_EXECUTION_ID = $3")
                .bind(&message).bind(ts(at)).bind(execution_id).execute(&mut *tx).await?;
            sqlx::query("UPDATE BATCH_STEP_EXECUTION SET STATUS = 'FAILED', EXIT_CODE = 'FAILED', EXIT_MESSAGE = $1, END_TIME = $2, LAST_UPDATED = $2, VERSION = VERSION + 1 WHERE JOB_EXECUTION_ID = $3 AND STATUS IN ('STARTING', 'STARTED', 'STOPPING')")
                .bind(&message).bind(ts(at)).bind(execution_id).execute(&mut *tx).await?;
            tx.commit().await?;
            Ok(Recovery::Recovered)
        })
    }

    async fn add_step_execution(&self, step: &mut StepExecution) -> Result<(), RepositoryError> {
        on_db!(self, pool => {
            let mut tx = pool.begin_write().await?;
            let id = tx.next_id(Seq::StepExecution).await?;
            sqlx::query("INSERT INTO BATCH_STEP_EXECUTION (STEP_EXECUTION_ID, VERSION, STEP_NAME, JOB_EXECUTION_ID, CREATE_TIME, START_TIME, END_TIME, STATUS, COMMIT_COUNT, READ_COUNT, FILTER_COUNT, WRITE_COUNT, READ_SKIP_COUNT, WRITE_SKIP_COUNT, PROCESS_SKIP_COUNT, ROLLBACK_COUNT, EXIT_CODE, EXIT_MESSAGE, LAST_UPDATED) VALUES ($1, 0, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18)")
                .bind(id).bind(&step.step_name).bind(step.job_execution_id)
                .bind(ts(step.create_time)).bind(step.start_time.map(ts)).bind(step.end_time.map(ts))
                .bind(step.status.as_str())
                .bind(step.commit_count).bind(step.read_count).bind(step.filter_count).bind(step.write_count)
                .bind(step.read_skip_count).bind(step.write_skip_count).bind(step.process_skip_count).bind(step.rollback_count)
                .bind(exit_code(&step.exit_status.code)).bind(exit_message(&step.exit_status.description))
                .bind(step.last_updated.map(ts))
                .execute(&mut *tx).await?;
            let (short, long) = split_context(step.context.to_jackson_json());
            sqlx::query("INSERT INTO BATCH_STEP_EXECUTION_CONTEXT (STEP_EXECUTION_ID, SHORT_CONTEXT, SERIALIZED_CONTEXT) VALUES ($1, $2, $3)")
                .bind(id).bind(short).bind(long)
                .execute(&mut *tx).await?;
            for p in &step.plugins {
                sqlx::query("INSERT INTO BH_STEP_PLUGIN (STEP_EXECUTION_ID, ROLE, LABEL, DIGEST) VALUES ($1, $2, $3, $4)")
                    .bind(id).bind(p.role.world()).bind(&p.label).bind(&p.digest)
                    .execute(&mut *tx).await?;
            }
            tx.commit().await?;
            step.id = id;
            step.version = 0;
            Ok(())
        })
    }

    async fn update_step_execution(&self, step: &mut StepExecution) -> Result<(), RepositoryError> {
        self.commit_chunk(step, &[], &[]).await
    }

    async fn commit_chunk(
        &self,
        step: &mut StepExecution,
        skipped: &[SkippedItem],
        rows: &[TableRow],
    ) -> Result<(), RepositoryError> {
        let updated = now();
        let (short, long) = split_context(step.context.to_jackson_json());
        // A throughput sample at the first commit and then about once a second.
        let previous = step.last_updated.map(|t| t.timestamp());
        let sample = step.commit_count == 1 || previous.is_some_and(|p| p != updated.timestamp());
        if let Backend::Sqlite(pool) = &self.backend {
            return sqlite_commit(pool, step, skipped, rows, updated, (&short, &long), sample)
                .await;
        }
        on_db!(self, pool => {
            let mut tx = pool.begin_write().await?;
            let n = sqlx::query("UPDATE BATCH_STEP_EXECUTION SET START_TIME = $1, END_TIME = $2, STATUS = $3, COMMIT_COUNT = $4, READ_COUNT = $5, FILTER_COUNT = $6, WRITE_COUNT = $7, READ_SKIP_COUNT = $8, WRITE_SKIP_COUNT = $9, PROCESS_SKIP_COUNT = $10, ROLLBACK_COUNT = $11, EXIT_CODE = $12, EXIT_MESSAGE = $13, LAST_UPDATED = $14, VERSION = VERSION + 1 WHERE STEP_EXECUTION_ID = $15 AND VERSION = $16")
                .bind(step.start_time.map(ts)).bind(step.end_time.map(ts)).bind(step.status.as_str())
                .bind(step.commit_count).bind(step.read_count).bind(step.filter_count).bind(step.write_count)
                .bind(step.read_skip_count).bind(step.write_skip_count).bind(step.process_skip_count).bind(step.rollback_count)
                .bind(exit_code(&step.exit_status.code)).bind(exit_message(&step.exit_status.description))
                .bind(ts(updated)).bind(step.id).bind(step.version)
                .execute(&mut *tx).await?.rows_affected();
            if n == 0 {
                return Err(RepositoryError::StaleVersion { what: "step execution", id: step.id, version: step.version });
            }
            sqlx::query("UPDATE BATCH_STEP_EXECUTION_CONTEXT SET SHORT_CONTEXT = $1, SERIALIZED_CONTEXT = $2 WHERE STEP_EXECUTION_ID = $3")
                .bind(&short).bind(&long).bind(step.id)
                .execute(&mut *tx).await?;
            // The chunk's dead letters in as few statements as the bind limits allow: one
            // round trip per 500 skipped items instead of one per item.
            for batch in skipped.chunks(500) {
                let mut insert = sqlx::QueryBuilder::new("INSERT INTO BH_SKIPPED_ITEM (JOB_EXECUTION_ID, STEP_EXECUTION_ID, STEP_NAME, PHASE, KIND, MESSAGE, PAYLOAD, ITEM_POSITION, CHUNK_NUMBER, CREATED_AT) ");
                insert.push_values(batch, |mut row, item| {
                    row.push_bind(step.job_execution_id).push_bind(step.id).push_bind(step.step_name.as_str())
                        .push_bind(item.phase.as_str()).push_bind(error_kind(&item.kind)).push_bind(exit_message(&item.message))
                        .push_bind(item.payload.as_deref()).push_bind(item.position).push_bind(item.chunk).push_bind(ts(updated));
                });
                insert.build().execute(&mut *tx).await?;
            }
            if sample {
                sqlx::query("INSERT INTO BH_STEP_PROGRESS (STEP_EXECUTION_ID, COMMIT_COUNT, SAMPLED_AT, READ_COUNT, WRITE_COUNT, SKIP_COUNT) VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (STEP_EXECUTION_ID, COMMIT_COUNT) DO NOTHING")
                    .bind(step.id).bind(step.commit_count).bind(ts(updated)).bind(step.read_count).bind(step.write_count)
                    .bind(step.read_skip_count + step.process_skip_count + step.write_skip_count)
                    .execute(&mut *tx).await?;
            }
            for row in rows {
                sqlx::query("INSERT INTO BH_TABLE_ROW (TABLE_NAME, ROW_NUMBER, STEP_EXECUTION_ID, PAYLOAD) VALUES ($1, $2, $3, $4)")
                    .bind(&row.table).bind(row.row_number).bind(step.id).bind(&row.payload)
                    .execute(&mut *tx).await?;
            }
            tx.commit().await?;
            step.version += 1;
            step.last_updated = Some(updated);
            Ok(())
        })
    }
}

/// [`JobRepository::commit_chunk`] on SQLite in three round trips to sqlx's worker thread
/// whatever the chunk holds: `BEGIN IMMEDIATE`, one batch of statements (the step row, its
/// context, the dead letters, the table rows, the throughput sample), `COMMIT`. Each round trip
/// is two thread switches, which profiles showed as the largest cost of a commit. The step
/// update's `RETURNING` row tells a stale version apart: without it the transaction is dropped,
/// and so rolled back, before anything is committed.
async fn sqlite_commit(
    pool: &Pool<Sqlite>,
    step: &mut StepExecution,
    skipped: &[SkippedItem],
    rows: &[TableRow],
    updated: Timestamp,
    (short, long): (&str, &Option<String>),
    sample: bool,
) -> Result<(), RepositoryError> {
    let mut tx = pool.begin_write().await?;
    // The inserts first, the step row's update after them: sqlx's worker thread streams one
    // result per statement, and results that arrive together cost the job one wake-up, not one
    // each (a dead-letter insert between two quick updates made the job sleep and wake twice).
    let mut b = sqlx::QueryBuilder::<Sqlite>::new("");
    // Dead letters in statements of at most 500 rows (SQLite's bind limit is per statement).
    for batch in skipped.chunks(500) {
        b.push("INSERT INTO BH_SKIPPED_ITEM (JOB_EXECUTION_ID, STEP_EXECUTION_ID, STEP_NAME, PHASE, KIND, MESSAGE, PAYLOAD, ITEM_POSITION, CHUNK_NUMBER, CREATED_AT) ");
        b.push_values(batch, |mut row, item| {
            row.push_bind(step.job_execution_id)
                .push_bind(step.id)
                .push_bind(step.step_name.clone())
                .push_bind(item.phase.as_str())
                .push_bind(error_kind(&item.kind))
                .push_bind(exit_message(&item.message))
                .push_bind(item.payload.clone())
                .push_bind(item.position)
                .push_bind(item.chunk)
                .push_bind(ts(updated));
        });
        b.push(";\n");
    }
    for batch in rows.chunks(1000) {
        b.push("INSERT INTO BH_TABLE_ROW (TABLE_NAME, ROW_NUMBER, STEP_EXECUTION_ID, PAYLOAD) ");
        b.push_values(batch, |mut r, row| {
            r.push_bind(row.table.clone())
                .push_bind(row.row_number)
                .push_bind(step.id)
                .push_bind(row.payload.clone());
        });
        b.push(";\n");
    }
    b.push("UPDATE BATCH_STEP_EXECUTION SET START_TIME = ");
    b.push_bind(step.start_time.map(ts));
    b.push(", END_TIME = ").push_bind(step.end_time.map(ts));
    b.push(", STATUS = ").push_bind(step.status.as_str());
    b.push(", COMMIT_COUNT = ").push_bind(step.commit_count);
    b.push(", READ_COUNT = ").push_bind(step.read_count);
    b.push(", FILTER_COUNT = ").push_bind(step.filter_count);
    b.push(", WRITE_COUNT = ").push_bind(step.write_count);
    b.push(", READ_SKIP_COUNT = ")
        .push_bind(step.read_skip_count);
    b.push(", WRITE_SKIP_COUNT = ")
        .push_bind(step.write_skip_count);
    b.push(", PROCESS_SKIP_COUNT = ")
        .push_bind(step.process_skip_count);
    b.push(", ROLLBACK_COUNT = ").push_bind(step.rollback_count);
    b.push(", EXIT_CODE = ")
        .push_bind(exit_code(&step.exit_status.code));
    b.push(", EXIT_MESSAGE = ")
        .push_bind(exit_message(&step.exit_status.description));
    b.push(", LAST_UPDATED = ").push_bind(ts(updated));
    b.push(", VERSION = VERSION + 1 WHERE STEP_EXECUTION_ID = ")
        .push_bind(step.id);
    b.push(" AND VERSION = ").push_bind(step.version);
    b.push(" RETURNING 1;\nUPDATE BATCH_STEP_EXECUTION_CONTEXT SET SHORT_CONTEXT = ");
    b.push_bind(short.to_owned());
    b.push(", SERIALIZED_CONTEXT = ").push_bind(long.clone());
    b.push(" WHERE STEP_EXECUTION_ID = ").push_bind(step.id);
    b.push(";\n");
    if sample {
        b.push("INSERT INTO BH_STEP_PROGRESS (STEP_EXECUTION_ID, COMMIT_COUNT, SAMPLED_AT, READ_COUNT, WRITE_COUNT, SKIP_COUNT) VALUES (");
        b.push_bind(step.id)
            .push(", ")
            .push_bind(step.commit_count)
            .push(", ")
            .push_bind(ts(updated));
        b.push(", ")
            .push_bind(step.read_count)
            .push(", ")
            .push_bind(step.write_count)
            .push(", ");
        b.push_bind(step.read_skip_count + step.process_skip_count + step.write_skip_count);
        b.push(") ON CONFLICT (STEP_EXECUTION_ID, COMMIT_COUNT) DO NOTHING;\n");
    }
    // Kept prepared even though the text varies with the number of dead letters and table rows
    // in the chunk: the counts repeat, and the connection's statement cache is bounded (least
    // recently used statements are finalised), so re-preparing per chunk would cost more.
    let updated_rows = b.build().fetch_all(&mut *tx).await?.len();
    if updated_rows == 0 {
        return Err(RepositoryError::StaleVersion {
            what: "step execution",
            id: step.id,
            version: step.version,
        });
    }
    tx.commit().await?;
    step.version += 1;
    step.last_updated = Some(updated);
    Ok(())
}
