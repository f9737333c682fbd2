//! `repository` → sql → tokens: [`TokenStore`] — the hashed bearer tokens of `batch-host serve`.

use super::rows::*;
use super::*;

/// A `BH_API_TOKEN` row (columns TOKEN_ID, TENANT, NAME, CREATED_AT, REVOKED_AT) as a record.
macro_rules! token_from_row {
    ($row:expr) => {{
        let row = $row;
        let revoked: Option<NaiveDateTime> = row.try_get(4)?;
        TokenRecord {
            id: row.try_get(0)?,
            tenant: row.try_get(1)?,
            name: row.try_get(2)?,
            created_at: from_ts(row.try_get(3)?),
            revoked_at: revoked.map(from_ts),
        }
    }};
}

impl TokenStore for SqlRepository {
    async fn add_token(
        &self,
        token: &TokenRecord,
        secret_sha256: &str,
    ) -> Result<(), RepositoryError> {
        on_db!(self, pool => {
            sqlx::query("INSERT INTO BH_API_TOKEN (TOKEN_ID, TENANT, NAME, SECRET_SHA256, CREATED_AT) VALUES ($1, $2, $3, $4, $5)")
                .bind(&token.id).bind(&token.tenant).bind(&token.name).bind(secret_sha256).bind(ts(token.created_at))
                .execute(pool).await?;
            Ok(())
        })
    }

    async fn token_secret(
        &self,
        id: &str,
    ) -> Result<Option<(TokenRecord, String)>, RepositoryError> {
        on_db!(self, pool => {
            let row = sqlx::query("SELECT TOKEN_ID, TENANT, NAME, CREATED_AT, REVOKED_AT, SECRET_SHA256 FROM BH_API_TOKEN WHERE TOKEN_ID = $1")
                .bind(id).fetch_optional(pool).await?;
            match row {
                Some(row) => Ok(Some((token_from_row!(&row), row.try_get(5)?))),
                None => Ok(None),
            }
        })
    }

    async fn list_tokens(&self) -> Result<Vec<TokenRecord>, RepositoryError> {
        on_db!(self, pool => {
            let rows = sqlx::query("SELECT TOKEN_ID, TENANT, NAME, CREATED_AT, REVOKED_AT FROM BH_API_TOKEN ORDER BY CREATED_AT, TOKEN_ID")
                .fetch_all(pool).await?;
            let mut out = Vec::with_capacity(rows.len());
            for row in &rows {
                out.push(token_from_row!(row));
            }
            Ok(out)
        })
    }

    async fn revoke_token(&self, id: &str) -> Result<bool, RepositoryError> {
        on_db!(self, pool => {
            let done = sqlx::query("UPDATE BH_API_TOKEN SET REVOKED_AT = $2 WHERE TOKEN_ID = $1 AND REVOKED_AT IS NULL")
                .bind(id).bind(ts(chrono::Utc::now()))
                .execute(pool).await?.rows_affected();
            Ok(done > 0)
        })
    }
}
