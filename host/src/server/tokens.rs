//! `server` → tokens: bearer tokens — how one is made, what is stored of it (the SHA-256 of its
//! secret, never the secret), and how a presented one is checked.
//!
//! A token reads `bh_<id>_<secret>`: `id` is 16 hex digits, public and the row's key; `secret` is
//! 64 hex digits (256 random bits). The secrets are random, so a plain SHA-256 is enough (no slow
//! password hash is needed), and the stored hash is compared in constant time.

use sha2::{Digest, Sha256};

use crate::repository::{RepositoryError, TokenRecord, TokenStore};

/// The longest token a request may present.
pub const MAX_TOKEN: usize = 100;

/// A new token: its record (to store with [`secret_hash`]) and the token text, shown once.
pub fn generate(tenant: Option<&str>, name: &str) -> Result<(TokenRecord, String, String), String> {
    let mut id = [0u8; 8];
    let mut secret = [0u8; 32];
    getrandom::fill(&mut id).map_err(|e| format!("no randomness for a token: {e}"))?;
    getrandom::fill(&mut secret).map_err(|e| format!("no randomness for a token: {e}"))?;
    let (id, secret) = (hex::encode(id), hex::encode(secret));
    let record = TokenRecord {
        id: id.clone(),
        tenant: tenant.map(str::to_owned),
        name: name.to_owned(),
        created_at: crate::domain::now(),
        revoked_at: None,
    };
    let hash = secret_hash(&secret);
    Ok((record, format!("bh_{id}_{secret}"), hash))
}

/// The SHA-256 of a token's secret, hex: what the repository keeps.
pub fn secret_hash(secret: &str) -> String {
    hex::encode(Sha256::digest(secret.as_bytes()))
}

/// Splits `bh_<id>_<secret>` into its id and secret, or `None` when it does not have that shape.
pub fn parse(token: &str) -> Option<(&str, &str)> {
    if token.len() > MAX_TOKEN {
        return None;
    }
    let rest = token.strip_prefix("bh_")?;
    let (id, secret) = rest.split_once('_')?;
    let hexish = |s: &str, n: usize| s.len() == n && s.bytes().all(|b| b.is_ascii_hexdigit());
    (hexish(id, 16) && hexish(secret, 64)).then_some((id, secret))
}

/// Equal bytes, in time that depends only on the length.
fn same(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// The live token `token` names, or `None` when it is malformed, unknown, revoked or its
/// secret does not match.
pub async fn verify<S: TokenStore>(
    store: &S,
    token: &str,
) -> Result<Option<TokenRecord>, RepositoryError> {
    let Some((id, secret)) = parse(token) else {
        return Ok(None);
    };
    let Some((record, stored)) = store.token_secret(id).await? else {
        return Ok(None);
    };
    let presented = secret_hash(secret);
    if !same(presented.as_bytes(), stored.as_bytes()) || record.revoked_at.is_some() {
        return Ok(None);
    }
    Ok(Some(record))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_have_one_shape() {
        let (record, token, hash) = generate(Some("acme"), "ci").unwrap();
        let (id, secret) = parse(&token).unwrap();
        assert_eq!(id, record.id);
        assert_eq!(secret_hash(secret), hash);
        assert_ne!(hash, secret, "the stored value is not the secret");
        for bad in [
            "",
            "bh_",
            "bh_0123456789abcdef",
            "xx_0123456789abcdef_00",
            &token[..token.len() - 1],
            &format!("{token}0"),
            &token.replace("bh_", "BH_"),
        ] {
            assert!(parse(bad).is_none(), "{bad}");
        }
        assert!(same(b"abc", b"abc") && !same(b"abc", b"abd") && !same(b"ab", b"abc"));
    }
}
