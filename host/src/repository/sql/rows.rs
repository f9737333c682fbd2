//! `repository` → sql → rows: how `BATCH_*` and `BH_*` rows map to domain values (timestamps,
//! statuses, contexts, step executions, plugin records), shared by every query.

use super::*;

pub(super) fn ts(t: Timestamp) -> NaiveDateTime {
    t.naive_utc()
}

pub(super) fn from_ts(t: NaiveDateTime) -> Timestamp {
    t.and_utc()
}

pub(super) fn status(s: Option<String>) -> Result<BatchStatus, RepositoryError> {
    let s = s.unwrap_or_else(|| "UNKNOWN".into());
    BatchStatus::from_str(&s).map_err(|_| RepositoryError::BadStatus(s))
}

pub(super) fn context(
    short: String,
    long: Option<String>,
    what: &'static str,
    id: Id,
) -> Result<ExecutionContext, RepositoryError> {
    ExecutionContext::from_jackson_json(long.as_deref().unwrap_or(&short))
        .map_err(|source| RepositoryError::CorruptContext { what, id, source })
}

pub(super) const JOB_EXECUTION_COLUMNS: &str = "E.JOB_EXECUTION_ID, E.VERSION, E.CREATE_TIME, E.START_TIME, E.END_TIME, E.STATUS, E.EXIT_CODE, E.EXIT_MESSAGE, E.LAST_UPDATED, C.SHORT_CONTEXT, C.SERIALIZED_CONTEXT";

pub(super) const STEP_COLUMNS: &str = "S.STEP_EXECUTION_ID, S.JOB_EXECUTION_ID, S.STEP_NAME, S.VERSION, S.STATUS, S.EXIT_CODE, S.EXIT_MESSAGE, S.READ_COUNT, S.WRITE_COUNT, S.FILTER_COUNT, S.COMMIT_COUNT, S.ROLLBACK_COUNT, S.READ_SKIP_COUNT, S.PROCESS_SKIP_COUNT, S.WRITE_SKIP_COUNT, S.CREATE_TIME, S.START_TIME, S.END_TIME, S.LAST_UPDATED, C.SHORT_CONTEXT, C.SERIALIZED_CONTEXT";

/// Maps a row selected with [`STEP_COLUMNS`] (works for both backends' row types).
macro_rules! step_from_row {
    ($row:expr) => {{
        let row = $row;
        let id: i64 = row.try_get(0)?;
        let short: Option<String> = row.try_get(19)?;
        StepExecution {
            id,
            job_execution_id: row.try_get(1)?,
            step_name: row.try_get(2)?,
            version: row.try_get(3)?,
            status: status(row.try_get(4)?)?,
            exit_status: ExitStatus {
                code: row.try_get::<Option<String>, _>(5)?.unwrap_or_default(),
                description: row.try_get::<Option<String>, _>(6)?.unwrap_or_default(),
            },
            read_count: row.try_get::<Option<i64>, _>(7)?.unwrap_or(0),
            write_count: row.try_get::<Option<i64>, _>(8)?.unwrap_or(0),
            filter_count: row.try_get::<Option<i64>, _>(9)?.unwrap_or(0),
            commit_count: row.try_get::<Option<i64>, _>(10)?.unwrap_or(0),
            rollback_count: row.try_get::<Option<i64>, _>(11)?.unwrap_or(0),
            read_skip_count: row.try_get::<Option<i64>, _>(12)?.unwrap_or(0),
            process_skip_count: row.try_get::<Option<i64>, _>(13)?.unwrap_or(0),
            write_skip_count: row.try_get::<Option<i64>, _>(14)?.unwrap_or(0),
            create_time: from_ts(row.try_get(15)?),
            start_time: row.try_get::<Option<NaiveDateTime>, _>(16)?.map(from_ts),
            end_time: row.try_get::<Option<NaiveDateTime>, _>(17)?.map(from_ts),
            last_updated: row.try_get::<Option<NaiveDateTime>, _>(18)?.map(from_ts),
            context: context(
                short.unwrap_or_default(),
                row.try_get(20)?,
                "step execution",
                id,
            )?,
            plugins: Vec::new(),
        }
    }};
}

/// The components a step execution ran, by role.
macro_rules! step_plugins {
    ($pool:expr, $id:expr) => {{
        let rows = sqlx::query("SELECT ROLE, LABEL, DIGEST FROM BH_STEP_PLUGIN WHERE STEP_EXECUTION_ID = $1 ORDER BY ROLE")
            .bind($id)
            .fetch_all($pool)
            .await?;
        let mut plugins = Vec::with_capacity(rows.len());
        for r in &rows {
            let role: String = r.try_get(0)?;
            let role = crate::domain::Role::from_world(&role).ok_or_else(|| {
                sqlx::Error::Decode(format!("BH_STEP_PLUGIN.ROLE `{role}` is not a plugin role").into())
            })?;
            plugins.push(crate::domain::StepPlugin { role, label: r.try_get(1)?, digest: r.try_get(2)? });
        }
        plugins
    }};
}

macro_rules! plugin_from_row {
    ($row:expr) => {{
        let row = $row;
        PluginRecord {
            name: row.try_get(0)?,
            version: row.try_get(1)?,
            digest: row.try_get(2)?,
            world: row.try_get(3)?,
            registered_at: from_ts(row.try_get(4)?),
            size: row.try_get(5)?,
        }
    }};
}

pub(super) const PLUGIN_COLUMNS: &str = "P.NAME, P.VERSION, P.DIGEST, P.WORLD, P.REGISTERED_AT, B.SIZE_BYTES FROM BH_PLUGIN P JOIN BH_PLUGIN_BLOB B ON B.DIGEST = P.DIGEST";
