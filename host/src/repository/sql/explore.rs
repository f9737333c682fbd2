//! `repository` → sql → explore: [`JobExplorer`] reads — executions by filter or instance,
//! step executions, statuses, job sources and skipped items.

use super::rows::*;
use super::*;

impl JobExplorer for SqlRepository {
    async fn job_executions(
        &self,
        instance: &JobInstance,
    ) -> Result<Vec<JobExecution>, RepositoryError> {
        self.find_executions(&ExecutionFilter {
            instance_id: Some(instance.id),
            ..Default::default()
        })
        .await
    }

    async fn find_executions(
        &self,
        filter: &ExecutionFilter,
    ) -> Result<Vec<JobExecution>, RepositoryError> {
        let sql = q(format!(
            "SELECT {JOB_EXECUTION_COLUMNS}, I.JOB_INSTANCE_ID, I.JOB_NAME, I.JOB_KEY FROM BATCH_JOB_EXECUTION E JOIN BATCH_JOB_INSTANCE I ON I.JOB_INSTANCE_ID = E.JOB_INSTANCE_ID LEFT JOIN BATCH_JOB_EXECUTION_CONTEXT C ON C.JOB_EXECUTION_ID = E.JOB_EXECUTION_ID WHERE ($1 IS NULL OR E.JOB_INSTANCE_ID = $1) AND ($2 IS NULL OR E.JOB_EXECUTION_ID = $2) AND ($3 IS NULL OR I.JOB_NAME = $3) AND ($4 IS NULL OR E.STATUS = $4) ORDER BY E.JOB_EXECUTION_ID DESC LIMIT $5 OFFSET $6"
        ));
        let limit = filter.limit.unwrap_or(i64::MAX);
        on_db!(self, pool => {
            let rows = sqlx::query(sql)
                .bind(filter.instance_id).bind(filter.execution_id)
                .bind(filter.job_name.as_deref()).bind(filter.status.as_deref()).bind(limit)
                .bind(filter.offset.unwrap_or(0).max(0))
                .fetch_all(pool).await?;
            let mut out = Vec::with_capacity(rows.len());
            for row in rows {
                let id: i64 = row.try_get(0)?;
                let mut parameters = JobParameters::new();
                let prows = sqlx::query("SELECT PARAMETER_NAME, PARAMETER_TYPE, PARAMETER_VALUE, IDENTIFYING FROM BATCH_JOB_EXECUTION_PARAMS WHERE JOB_EXECUTION_ID = $1")
                    .bind(id).fetch_all(pool).await?;
                for p in prows {
                    let kind: String = p.try_get(1)?;
                    let ident: String = p.try_get(3)?;
                    parameters.insert(p.try_get::<String, _>(0)?, JobParameter {
                        kind: ParamType::parse(&kind).unwrap_or(ParamType::String),
                        value: p.try_get::<Option<String>, _>(2)?.unwrap_or_default(),
                        identifying: ident.eq_ignore_ascii_case("Y"),
                    });
                }
                let short: Option<String> = row.try_get(9)?;
                out.push(JobExecution {
                    id,
                    instance: JobInstance { id: row.try_get(11)?, job_name: row.try_get(12)?, job_key: row.try_get(13)? },
                    version: row.try_get::<Option<i64>, _>(1)?.unwrap_or(0),
                    parameters,
                    status: status(row.try_get(5)?)?,
                    exit_status: ExitStatus {
                        code: row.try_get::<Option<String>, _>(6)?.unwrap_or_default(),
                        description: row.try_get::<Option<String>, _>(7)?.unwrap_or_default(),
                    },
                    create_time: from_ts(row.try_get(2)?),
                    start_time: row.try_get::<Option<NaiveDateTime>, _>(3)?.map(from_ts),
                    end_time: row.try_get::<Option<NaiveDateTime>, _>(4)?.map(from_ts),
                    last_updated: row.try_get::<Option<NaiveDateTime>, _>(8)?.map(from_ts),
                    context: context(short.unwrap_or_default(), row.try_get(10)?, "job execution", id)?,
                });
            }
            Ok(out)
        })
    }

    async fn step_executions(
        &self,
        job_execution_id: Id,
    ) -> Result<Vec<StepExecution>, RepositoryError> {
        let sql = q(format!(
            "SELECT {STEP_COLUMNS} FROM BATCH_STEP_EXECUTION S LEFT JOIN BATCH_STEP_EXECUTION_CONTEXT C ON C.STEP_EXECUTION_ID = S.STEP_EXECUTION_ID WHERE S.JOB_EXECUTION_ID = $1 ORDER BY S.STEP_EXECUTION_ID"
        ));
        on_db!(self, pool => {
            let rows = sqlx::query(sql).bind(job_execution_id).fetch_all(pool).await?;
            let mut out = Vec::with_capacity(rows.len());
            for row in &rows {
                let mut step = step_from_row!(row);
                step.plugins = step_plugins!(pool, step.id);
                out.push(step);
            }
            Ok(out)
        })
    }

    async fn last_step_execution(
        &self,
        instance: &JobInstance,
        step_name: &str,
    ) -> Result<Option<StepExecution>, RepositoryError> {
        let sql = q(format!(
            "SELECT {STEP_COLUMNS} FROM BATCH_STEP_EXECUTION S JOIN BATCH_JOB_EXECUTION E ON E.JOB_EXECUTION_ID = S.JOB_EXECUTION_ID LEFT JOIN BATCH_STEP_EXECUTION_CONTEXT C ON C.STEP_EXECUTION_ID = S.STEP_EXECUTION_ID WHERE E.JOB_INSTANCE_ID = $1 AND S.STEP_NAME = $2 ORDER BY S.STEP_EXECUTION_ID DESC LIMIT 1"
        ));
        on_db!(self, pool => {
            let row = sqlx::query(sql).bind(instance.id).bind(step_name).fetch_optional(pool).await?;
            match row {
                Some(row) => {
                    let mut step = step_from_row!(&row);
                    step.plugins = step_plugins!(pool, step.id);
                    Ok(Some(step))
                }
                None => Ok(None),
            }
        })
    }

    async fn execution_owner(
        &self,
        execution_id: Id,
    ) -> Result<Option<crate::domain::ExecutionOwner>, RepositoryError> {
        on_db!(self, pool => {
            let row = sqlx::query("SELECT HOST_NAME, PROCESS_ID, PROCESS_START FROM BH_EXECUTION_OWNER WHERE JOB_EXECUTION_ID = $1")
                .bind(execution_id).fetch_optional(pool).await?;
            match row {
                Some(r) => Ok(Some(crate::domain::ExecutionOwner {
                    host: r.try_get(0)?,
                    pid: u32::try_from(r.try_get::<i64, _>(1)?).unwrap_or(0),
                    started: r.try_get(2)?,
                })),
                None => Ok(None),
            }
        })
    }

    async fn job_source(&self, execution_id: Id) -> Result<Option<JobSource>, RepositoryError> {
        on_db!(self, pool => {
            let row = sqlx::query("SELECT JOB_FILE, WORKDIR, JOB_TEXT FROM BH_JOB_SOURCE WHERE JOB_EXECUTION_ID = $1")
                .bind(execution_id).fetch_optional(pool).await?;
            match row {
                Some(r) => Ok(Some(JobSource {
                    file: r.try_get(0)?,
                    workdir: r.try_get(1)?,
                    text: r.try_get(2)?,
                })),
                None => Ok(None),
            }
        })
    }

    async fn execution_status(
        &self,
        execution_id: Id,
    ) -> Result<Option<BatchStatus>, RepositoryError> {
        on_db!(self, pool => {
            let s: Option<Option<String>> = sqlx::query_scalar("SELECT STATUS FROM BATCH_JOB_EXECUTION WHERE JOB_EXECUTION_ID = $1")
                .bind(execution_id).fetch_optional(pool).await?;
            match s {
                Some(s) => Ok(Some(status(s)?)),
                None => Ok(None),
            }
        })
    }

    async fn step_execution_count(
        &self,
        instance: &JobInstance,
        step_name: &str,
    ) -> Result<i64, RepositoryError> {
        on_db!(self, pool => {
            Ok(sqlx::query_scalar("SELECT COUNT(*) FROM BATCH_STEP_EXECUTION S JOIN BATCH_JOB_EXECUTION E ON E.JOB_EXECUTION_ID = S.JOB_EXECUTION_ID WHERE E.JOB_INSTANCE_ID = $1 AND S.STEP_NAME = $2")
                .bind(instance.id).bind(step_name).fetch_one(pool).await?)
        })
    }

    async fn table_rows(
        &self,
        table: &str,
        min: i64,
        max: i64,
        limit: i64,
    ) -> Result<Vec<(i64, String)>, RepositoryError> {
        on_db!(self, pool => {
            let rows = sqlx::query("SELECT ROW_NUMBER, PAYLOAD FROM BH_TABLE_ROW WHERE TABLE_NAME = $1 AND ROW_NUMBER >= $2 AND ROW_NUMBER <= $3 ORDER BY ROW_NUMBER LIMIT $4")
                .bind(table).bind(min).bind(max).bind(limit).fetch_all(pool).await?;
            rows.iter()
                .map(|r| Ok((r.try_get(0)?, r.try_get(1)?)))
                .collect::<Result<_, sqlx::Error>>()
                .map_err(RepositoryError::from)
        })
    }

    async fn table_bounds(&self, table: &str) -> Result<Option<(i64, i64)>, RepositoryError> {
        on_db!(self, pool => {
            let row = sqlx::query("SELECT MIN(ROW_NUMBER), MAX(ROW_NUMBER) FROM BH_TABLE_ROW WHERE TABLE_NAME = $1")
                .bind(table).fetch_one(pool).await?;
            let (min, max): (Option<i64>, Option<i64>) = (row.try_get(0)?, row.try_get(1)?);
            Ok(min.zip(max))
        })
    }

    async fn skipped_items(
        &self,
        job_execution_id: Id,
    ) -> Result<Vec<(String, SkippedItem)>, RepositoryError> {
        on_db!(self, pool => {
            let rows = sqlx::query("SELECT STEP_NAME, PHASE, KIND, MESSAGE, PAYLOAD, ITEM_POSITION, CHUNK_NUMBER FROM BH_SKIPPED_ITEM WHERE JOB_EXECUTION_ID = $1 ORDER BY ID")
                .bind(job_execution_id).fetch_all(pool).await?;
            let mut out = Vec::with_capacity(rows.len());
            for r in &rows {
                let phase: String = r.try_get(1)?;
                out.push((r.try_get(0)?, SkippedItem {
                    phase: SkipPhase::parse(&phase).ok_or(RepositoryError::BadStatus(phase))?,
                    kind: r.try_get(2)?,
                    message: r.try_get(3)?,
                    payload: r.try_get(4)?,
                    position: r.try_get(5)?,
                    chunk: r.try_get(6)?,
                }));
            }
            Ok(out)
        })
    }

    async fn step_progress(
        &self,
        job_execution_id: Id,
    ) -> Result<Vec<ProgressSample>, RepositoryError> {
        on_db!(self, pool => {
            let rows = sqlx::query("SELECT P.STEP_EXECUTION_ID, S.STEP_NAME, P.SAMPLED_AT, P.COMMIT_COUNT, P.READ_COUNT, P.WRITE_COUNT, P.SKIP_COUNT FROM BH_STEP_PROGRESS P JOIN BATCH_STEP_EXECUTION S ON S.STEP_EXECUTION_ID = P.STEP_EXECUTION_ID WHERE S.JOB_EXECUTION_ID = $1 ORDER BY P.STEP_EXECUTION_ID, P.COMMIT_COUNT")
                .bind(job_execution_id).fetch_all(pool).await?;
            let mut out = Vec::with_capacity(rows.len());
            for r in &rows {
                out.push(ProgressSample {
                    step_execution_id: r.try_get(0)?,
                    step_name: r.try_get(1)?,
                    at: from_ts(r.try_get(2)?),
                    commits: r.try_get(3)?,
                    read: r.try_get(4)?,
                    write: r.try_get(5)?,
                    skip: r.try_get(6)?,
                });
            }
            Ok(out)
        })
    }
}
