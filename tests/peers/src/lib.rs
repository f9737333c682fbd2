//! What the two peers of `make bench` share: the member record and the job's rule (trim the
//! name, lowercase the email, reject an email without `@` or without a `.` after it).

use serde::{Deserialize, Serialize};

/// One input row.
#[derive(Debug, Clone, Deserialize)]
pub struct Member {
    /// The member id, as text (the output keeps it as a JSON string, as batch-host's does).
    pub id: String,
    /// The name; may carry spaces around it.
    pub name: String,
    /// The email; may be mixed-case or invalid.
    pub email: String,
}

/// One output line.
#[derive(Debug, Clone, Serialize)]
pub struct Out<'a> {
    /// The id.
    pub id: &'a str,
    /// The trimmed name.
    pub name: &'a str,
    /// The lowercased email.
    pub email: &'a str,
}

/// True when `email` has an `@` and a `.` somewhere after it.
pub fn valid_email(email: &str) -> bool {
    email
        .find('@')
        .is_some_and(|at| email[at + 1..].contains('.'))
}
