//! `repository` → sql → registry: [`PluginStore`] — registrations, component blobs and sealed
//! artifacts.

use super::rows::*;
use super::*;

impl PluginStore for SqlRepository {
    async fn register_plugin(
        &self,
        record: &PluginRecord,
        wasm: &[u8],
    ) -> Result<(), RepositoryError> {
        on_db!(self, pool => {
            let mut tx = pool.begin_write().await?;
            sqlx::query("INSERT INTO BH_PLUGIN_BLOB (DIGEST, WASM, SIZE_BYTES) VALUES ($1, $2, $3) ON CONFLICT (DIGEST) DO NOTHING")
                .bind(&record.digest).bind(wasm).bind(wasm.len() as i64)
                .execute(&mut *tx).await?;
            sqlx::query("INSERT INTO BH_PLUGIN (NAME, VERSION, DIGEST, WORLD, REGISTERED_AT) VALUES ($1, $2, $3, $4, $5) ON CONFLICT (NAME, VERSION) DO UPDATE SET DIGEST = excluded.DIGEST, WORLD = excluded.WORLD, REGISTERED_AT = excluded.REGISTERED_AT")
                .bind(&record.name).bind(&record.version).bind(&record.digest).bind(&record.world).bind(ts(record.registered_at))
                .execute(&mut *tx).await?;
            tx.commit().await?;
            Ok(())
        })
    }

    async fn find_plugin(
        &self,
        name: &str,
        version: Option<&str>,
    ) -> Result<Option<PluginRecord>, RepositoryError> {
        let sql = q(format!(
            "SELECT {PLUGIN_COLUMNS} WHERE P.NAME = $1 AND ($2 IS NULL OR P.VERSION = $2) ORDER BY P.REGISTERED_AT DESC LIMIT 1"
        ));
        on_db!(self, pool => {
            let row = sqlx::query(sql).bind(name).bind(version).fetch_optional(pool).await?;
            match row {
                Some(row) => Ok(Some(plugin_from_row!(&row))),
                None => Ok(None),
            }
        })
    }

    async fn list_plugins(&self) -> Result<Vec<PluginRecord>, RepositoryError> {
        let sql = q(format!(
            "SELECT {PLUGIN_COLUMNS} ORDER BY P.NAME, P.REGISTERED_AT"
        ));
        on_db!(self, pool => {
            let rows = sqlx::query(sql).fetch_all(pool).await?;
            let mut out = Vec::with_capacity(rows.len());
            for row in &rows {
                out.push(plugin_from_row!(row));
            }
            Ok(out)
        })
    }

    async fn remove_plugin(
        &self,
        name: &str,
        version: Option<&str>,
    ) -> Result<u64, RepositoryError> {
        on_db!(self, pool => {
            let mut tx = pool.begin_write().await?;
            let removed = sqlx::query("DELETE FROM BH_PLUGIN WHERE NAME = $1 AND ($2 IS NULL OR VERSION = $2)")
                .bind(name).bind(version)
                .execute(&mut *tx).await?.rows_affected();
            sqlx::query("DELETE FROM BH_PLUGIN_ARTIFACT WHERE DIGEST NOT IN (SELECT DIGEST FROM BH_PLUGIN)")
                .execute(&mut *tx).await?;
            sqlx::query("DELETE FROM BH_PLUGIN_BLOB WHERE DIGEST NOT IN (SELECT DIGEST FROM BH_PLUGIN)")
                .execute(&mut *tx).await?;
            tx.commit().await?;
            Ok(removed)
        })
    }

    async fn plugin_wasm(&self, digest: &str) -> Result<Option<Vec<u8>>, RepositoryError> {
        on_db!(self, pool => {
            Ok(sqlx::query_scalar("SELECT WASM FROM BH_PLUGIN_BLOB WHERE DIGEST = $1")
                .bind(digest).fetch_optional(pool).await?)
        })
    }

    async fn plugin_artifact(
        &self,
        digest: &str,
        engine: &str,
    ) -> Result<Option<StoredArtifact>, RepositoryError> {
        on_db!(self, pool => {
            let row = sqlx::query("SELECT ARTIFACT, WORLD, SEAL FROM BH_PLUGIN_ARTIFACT WHERE DIGEST = $1 AND ENGINE = $2")
                .bind(digest).bind(engine).fetch_optional(pool).await?;
            match row {
                Some(r) => Ok(Some(StoredArtifact {
                    artifact: r.try_get(0)?,
                    world: r.try_get(1)?,
                    seal: r.try_get(2)?,
                })),
                None => Ok(None),
            }
        })
    }

    async fn put_plugin_artifact(
        &self,
        digest: &str,
        engine: &str,
        a: &StoredArtifact,
    ) -> Result<(), RepositoryError> {
        on_db!(self, pool => {
            sqlx::query("INSERT INTO BH_PLUGIN_ARTIFACT (DIGEST, ENGINE, WORLD, ARTIFACT, CREATED_AT, SEAL) VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (DIGEST, ENGINE) DO UPDATE SET WORLD = excluded.WORLD, ARTIFACT = excluded.ARTIFACT, CREATED_AT = excluded.CREATED_AT, SEAL = excluded.SEAL")
                .bind(digest).bind(engine).bind(&a.world).bind(&a.artifact).bind(ts(now())).bind(&a.seal)
                .execute(pool).await?;
            Ok(())
        })
    }
}
