//! Opening the store: picking the backend from the URL, checking what can be
//! checked before connecting (so the error says what to fix), building the
//! `Any` pool with per-connection settings (SQLite pragmas, PostgreSQL
//! `search_path`) and running the embedded migrations for that backend.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use sqlx::any::AnyPoolOptions;
use sqlx::migrate::Migrator;
use sqlx::{AnyConnection, AnyPool, AssertSqlSafe, Connection};

use super::error::{StoreError, redact_url};

/// The migrations for SQLite databases (`migrations/sqlite/`).
static SQLITE_MIGRATIONS: Migrator = sqlx::migrate!("migrations/sqlite");
/// The migrations for PostgreSQL databases (`migrations/postgres/`).
static POSTGRES_MIGRATIONS: Migrator = sqlx::migrate!("migrations/postgres");

/// How long a query waits for a free pooled connection before failing.
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(5);
/// SQLite's busy timeout: how long a writer waits for the write lock.
const SQLITE_BUSY_TIMEOUT_MS: u32 = 5_000;

/// Which database a [`super::Store`] talks to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Backend {
    /// A local SQLite file (the default; WAL mode).
    Sqlite,
    /// A PostgreSQL server (production).
    Postgres,
}

impl Backend {
    /// The backend a database URL names, if hotline supports it.
    pub fn of_url(url: &str) -> Option<Backend> {
        if url.starts_with("sqlite:") {
            Some(Backend::Sqlite)
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Some(Backend::Postgres)
        } else {
            None
        }
    }
}

/// How far [`open`] migrates the database.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Migrate {
    /// Every migration this hotline knows (what `hotline serve` does).
    All,
    /// Up to and including this version: a database as an older hotline
    /// left it, to test the later migrations on.
    #[cfg(test)]
    UpTo(i64),
    /// None: the database as it is (`hotline doctor`, `hotline
    /// retention`). A SQLite file must exist already.
    Not,
}

/// The embedded migrations for `backend`.
pub(super) fn migrator(backend: Backend) -> &'static Migrator {
    match backend {
        Backend::Sqlite => &SQLITE_MIGRATIONS,
        Backend::Postgres => &POSTGRES_MIGRATIONS,
    }
}

/// Connects to `url` and migrates it as `migrate` says; see
/// [`super::Store::connect_with_schema`].
pub(super) async fn open(
    url: &str,
    schema: Option<&str>,
    migrate: Migrate,
) -> Result<(AnyPool, Backend), StoreError> {
    sqlx::any::install_default_drivers();
    let shown = redact_url(url);
    let backend =
        Backend::of_url(url).ok_or_else(|| StoreError::UnsupportedUrl { url: shown.clone() })?;
    let (connect_url, init) = match backend {
        Backend::Sqlite => {
            if schema.is_some() {
                tracing::warn!(url = %shown, "a database schema applies to PostgreSQL only; ignored for SQLite");
            }
            let create = migrate != Migrate::Not;
            (sqlite_url(url, &shown, create)?, sqlite_init())
        }
        Backend::Postgres => (url.to_string(), postgres_init(schema)?),
    };
    // One plain connection first: the pool would retry a refused connection
    // until its timeout and report only that, hiding the cause.
    let probe = AnyConnection::connect(&connect_url)
        .await
        .map_err(|e| open_error(backend, &shown, &e))?;
    let _ = probe.close().await;

    let init = Arc::new(init);
    let pool = AnyPoolOptions::new()
        .max_connections(if backend == Backend::Sqlite { 4 } else { 10 })
        .acquire_timeout(ACQUIRE_TIMEOUT)
        .after_connect(move |conn, _meta| {
            let init = Arc::clone(&init);
            Box::pin(async move {
                for stmt in init.iter() {
                    sqlx::raw_sql(AssertSqlSafe(stmt.as_str()))
                        .execute(&mut *conn)
                        .await?;
                }
                Ok(())
            })
        })
        .connect(&connect_url)
        .await
        .map_err(|e| open_error(backend, &shown, &e))?;

    match backend {
        Backend::Sqlite => {
            // WAL is a property of the file: set once, it stays. Readers then
            // never block the writer task. (An in-memory database answers
            // "memory" and stays as it is.)
            sqlx::raw_sql("PRAGMA journal_mode = WAL")
                .execute(&pool)
                .await
                .map_err(|e| open_error(backend, &shown, &e))?;
        }
        Backend::Postgres => {
            if let Some(schema) = schema {
                let create = format!("CREATE SCHEMA IF NOT EXISTS \"{schema}\"");
                sqlx::raw_sql(AssertSqlSafe(create))
                    .execute(&pool)
                    .await
                    .map_err(|e| open_error(backend, &shown, &e))?;
            }
        }
    }

    let migrator = migrator(backend);
    let migrated = match migrate {
        Migrate::All => migrator.run(&pool).await,
        #[cfg(test)]
        Migrate::UpTo(version) => migrator.run_to(version, &pool).await,
        Migrate::Not => Ok(()),
    };
    migrated.map_err(|source| StoreError::Migrate {
        url: shown.clone(),
        source,
    })?;
    tracing::info!(url = %shown, ?backend, schema = schema.unwrap_or(""), "store open");
    Ok((pool, backend))
}

/// The SQLite URL to connect with: with `create`, the file is created if
/// missing (but not its directory, which is checked here so the error can
/// say so); without, it must exist.
fn sqlite_url(url: &str, shown: &str, create: bool) -> Result<String, StoreError> {
    let rest = url
        .trim_start_matches("sqlite://")
        .trim_start_matches("sqlite:");
    let (path, params) = match rest.split_once('?') {
        Some((path, params)) => (path, Some(params)),
        None => (rest, None),
    };
    let in_memory =
        path.is_empty() || path == ":memory:" || params.is_some_and(|p| p.contains("mode=memory"));
    if !in_memory
        && let Some(dir) = Path::new(path)
            .parent()
            .filter(|d| !d.as_os_str().is_empty())
        && !dir.is_dir()
    {
        return Err(StoreError::Open {
            url: shown.to_string(),
            reason: format!("directory {} does not exist", dir.display()),
            hint: "create it or change [store] url",
        });
    }
    if !in_memory && !create && !Path::new(path).is_file() {
        return Err(StoreError::Open {
            url: shown.to_string(),
            reason: format!("no database file {path}"),
            hint: "run this where the service runs (a relative path is relative to the working directory), or check [store] url; `hotline serve` creates the file at its first start",
        });
    }
    let mode = if create { "rwc" } else { "rw" };
    Ok(match params {
        Some(p) if p.split('&').any(|kv| kv.starts_with("mode=")) => url.to_string(),
        Some(_) => format!("{url}&mode={mode}"),
        None => format!("{url}?mode={mode}"),
    })
}

/// Statements run on every new SQLite connection.
fn sqlite_init() -> Vec<String> {
    vec![
        format!("PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS}"),
        // With WAL, NORMAL survives an application crash; only an OS crash
        // or power loss may lose the last commits.
        "PRAGMA synchronous = NORMAL".to_string(),
    ]
}

/// Statements run on every new PostgreSQL connection.
fn postgres_init(schema: Option<&str>) -> Result<Vec<String>, StoreError> {
    match schema {
        None => Ok(Vec::new()),
        Some(s) if valid_schema(s) => Ok(vec![format!("SET search_path TO \"{s}\"")]),
        Some(s) => Err(StoreError::InvalidSchema {
            schema: s.to_string(),
        }),
    }
}

/// Whether `s` is a plain PostgreSQL identifier we can quote without escaping.
fn valid_schema(s: &str) -> bool {
    let mut chars = s.chars();
    let first_ok = chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_');
    first_ok && s.len() <= 63 && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// Turns a connection failure into an error that says what to do next.
fn open_error(backend: Backend, shown: &str, e: &sqlx::Error) -> StoreError {
    let code = match e {
        sqlx::Error::Database(db) => db.code().map(|c| c.into_owned()),
        _ => None,
    };
    let hint = match (backend, code.as_deref(), e) {
        (Backend::Postgres, Some("3D000"), _) => {
            "create the database (createdb NAME) or change [store] url"
        }
        (Backend::Postgres, Some("28000" | "28P01"), _) => {
            "check the user and password in [store] url and pg_hba.conf"
        }
        (Backend::Postgres, Some("42501"), _) => {
            "grant the user CREATE on the database/schema or change [store] url"
        }
        (Backend::Postgres, _, sqlx::Error::Io(_) | sqlx::Error::PoolTimedOut) => {
            "check that PostgreSQL is running and reachable at that host and port, or change [store] url"
        }
        (Backend::Postgres, _, sqlx::Error::Tls(_)) => {
            "check the sslmode and certificates in [store] url"
        }
        (Backend::Sqlite, _, _) => {
            "check that the file is a SQLite database and that hotline may read and write it and its directory"
        }
        _ => "check [store] url",
    };
    StoreError::Open {
        url: shown.to_string(),
        reason: e.to_string(),
        hint,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backends_and_schemas() {
        assert_eq!(Backend::of_url("sqlite://x.db"), Some(Backend::Sqlite));
        assert_eq!(
            Backend::of_url("postgresql://h/db"),
            Some(Backend::Postgres)
        );
        assert_eq!(Backend::of_url("mysql://h/db"), None);
        assert!(valid_schema("hotline_test_1"));
        assert!(!valid_schema("1abc"));
        assert!(!valid_schema("a\"; DROP TABLE calls; --"));
        assert!(!valid_schema(""));
    }

    #[test]
    fn sqlite_urls_create_the_file_but_not_the_directory() {
        assert_eq!(
            sqlite_url("sqlite://x.db", "", true).ok().as_deref(),
            Some("sqlite://x.db?mode=rwc")
        );
        assert_eq!(
            sqlite_url("sqlite://x.db?mode=ro", "", true)
                .ok()
                .as_deref(),
            Some("sqlite://x.db?mode=ro")
        );
        let err = sqlite_url(
            "sqlite:///nonexistent-dir-hotline/x.db",
            "sqlite:///nonexistent-dir-hotline/x.db",
            true,
        );
        let msg = err.err().map(|e| e.to_string()).unwrap_or_default();
        assert!(
            msg.contains("directory /nonexistent-dir-hotline does not exist"),
            "{msg}"
        );
        assert!(msg.contains("create it or change [store] url"), "{msg}");
    }

    #[test]
    fn sqlite_urls_without_migrating_need_the_file() {
        let dir = std::env::temp_dir();
        let missing = format!("sqlite://{}/hotline-no-such-file.db", dir.display());
        let msg = sqlite_url(&missing, &missing, false)
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(msg.contains("no database file"), "{msg}");
        let file = tempfile::NamedTempFile::new().expect("temp file");
        let url = format!("sqlite://{}", file.path().display());
        assert_eq!(
            sqlite_url(&url, &url, false).ok(),
            Some(format!("{url}?mode=rw"))
        );
    }
}
