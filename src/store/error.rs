//! The store's error type: what went wrong, against which database, and what
//! the operator should do next. Database URLs in messages have their password
//! replaced by `***`.

/// An error from opening, migrating, reading or writing the call store.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The `[store] url` names no backend hotline supports.
    #[error(
        "unsupported database url {url}: use sqlite://PATH or postgres://USER@HOST/DB in [store] url"
    )]
    UnsupportedUrl {
        /// The URL as configured, password redacted.
        url: String,
    },

    /// The PostgreSQL schema name is not a plain identifier.
    #[error(
        "invalid database schema {schema:?}: use letters, digits and '_' only (at most 63, not starting with a digit) in [store] schema"
    )]
    InvalidSchema {
        /// The schema name as configured.
        schema: String,
    },

    /// The database could not be opened or reached; `hint` says what to do.
    #[error("cannot open database {url}: {reason}; {hint}")]
    Open {
        /// The URL as configured, password redacted.
        url: String,
        /// What failed, in words.
        reason: String,
        /// What the operator should do next.
        hint: &'static str,
    },

    /// The embedded migrations could not be applied.
    #[error(
        "cannot migrate database {url}: {source}; if a newer hotline migrated it or it was edited by hand, restore a backup or point [store] url at a fresh database"
    )]
    Migrate {
        /// The URL as configured, password redacted.
        url: String,
        /// The migrator's error.
        #[source]
        source: sqlx::migrate::MigrateError,
    },

    /// A query failed (the database went away, a lock timed out, ...).
    #[error(
        "database {op} failed: {source}; check that the database is running and reachable (the health endpoint shows the store status)"
    )]
    Query {
        /// What the store was doing, e.g. "upsert call".
        op: &'static str,
        /// The driver's error.
        #[source]
        source: sqlx::Error,
    },

    /// A stored value does not parse as the model type it should hold.
    #[error(
        "stored {table}.{column} = {value:?} (row {id}) is not a valid value; a newer hotline or a manual edit wrote it: fix the row or upgrade hotline"
    )]
    Corrupt {
        /// The table holding the value.
        table: &'static str,
        /// The row's id.
        id: String,
        /// The column holding the value.
        column: &'static str,
        /// The value found.
        value: String,
    },
}

impl StoreError {
    /// A closure wrapping a driver error as [`StoreError::Query`] for `op`.
    pub(crate) fn query(op: &'static str) -> impl FnOnce(sqlx::Error) -> StoreError {
        move |source| StoreError::Query { op, source }
    }
}

/// `url` with the password (if any) replaced by `***`, for messages and logs.
pub fn redact_url(url: &str) -> String {
    let Some(scheme_end) = url.find("://") else {
        return url.to_string();
    };
    let rest_start = scheme_end + 3;
    let rest = &url[rest_start..];
    let authority_end = rest.find(['/', '?']).unwrap_or(rest.len());
    let authority = &rest[..authority_end];
    let Some(at) = authority.rfind('@') else {
        return url.to_string();
    };
    let userinfo = &authority[..at];
    let Some(colon) = userinfo.find(':') else {
        return url.to_string();
    };
    format!(
        "{}{}:***{}",
        &url[..rest_start],
        &userinfo[..colon],
        &rest[at..]
    )
}

#[cfg(test)]
mod tests {
    use super::redact_url;

    #[test]
    fn passwords_are_redacted() {
        assert_eq!(
            redact_url("postgres://hot:s3cr@t@db:5432/hotline?sslmode=require"),
            "postgres://hot:***@db:5432/hotline?sslmode=require"
        );
        assert_eq!(redact_url("postgres://hot@db/x"), "postgres://hot@db/x");
        assert_eq!(
            redact_url("sqlite:///var/lib/hotline.db"),
            "sqlite:///var/lib/hotline.db"
        );
        assert_eq!(redact_url("sqlite:data.db"), "sqlite:data.db");
    }
}
