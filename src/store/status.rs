//! What state a database is in, read without changing it: which of this
//! hotline's embedded migrations are applied and which are pending, and
//! whether the database holds migrations this hotline does not know (a
//! newer hotline migrated it), one that failed half-way, or one edited
//! after it ran. `hotline doctor` reports it; `hotline retention` refuses
//! a database that is not current.

use sqlx::{AnyConnection, Row};

use super::connect::{Backend, migrator};

/// The migrations of a database against this hotline's.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MigrationState {
    /// Applied migrations this hotline knows, by version.
    pub applied: Vec<i64>,
    /// This hotline's migrations not applied yet, (version, description),
    /// oldest first: `hotline serve` applies them at its next start.
    pub pending: Vec<(i64, String)>,
    /// Applied versions this hotline does not know: a newer hotline
    /// migrated the database.
    pub unknown: Vec<i64>,
    /// Migrations that failed half-way.
    pub failed: Vec<i64>,
    /// Applied migrations whose text is not this hotline's (edited after
    /// they ran).
    pub changed: Vec<i64>,
}

impl MigrationState {
    /// Nothing applied: a new, empty database.
    pub fn is_empty_database(&self) -> bool {
        self.applied.is_empty() && self.unknown.is_empty() && self.failed.is_empty()
    }

    /// This hotline's schema, every migration applied as it knows it.
    pub fn is_current(&self) -> bool {
        self.pending.is_empty() && self.failed.is_empty() && self.changed.is_empty()
    }

    /// The state given what a database has applied: (version, checksum) of
    /// the successful ones, and the versions that failed.
    pub(super) fn compare(
        backend: Backend,
        succeeded: &[(i64, Vec<u8>)],
        failed: &[i64],
    ) -> MigrationState {
        let mut state = MigrationState {
            failed: failed.to_vec(),
            ..Default::default()
        };
        let ours: Vec<_> = migrator(backend)
            .iter()
            .filter(|m| m.migration_type.is_up_migration())
            .collect();
        for m in &ours {
            match succeeded.iter().find(|(v, _)| *v == m.version) {
                Some((_, sum)) if sum.as_slice() == &*m.checksum => state.applied.push(m.version),
                Some(_) => {
                    state.applied.push(m.version);
                    state.changed.push(m.version);
                }
                None if failed.contains(&m.version) => {}
                None => state.pending.push((m.version, m.description.to_string())),
            }
        }
        state.unknown = succeeded
            .iter()
            .map(|(v, _)| *v)
            .filter(|v| !ours.iter().any(|m| m.version == *v))
            .collect();
        state
    }
}

/// Reads the migrations table (none yet: nothing applied).
pub(super) async fn read(
    conn: &mut AnyConnection,
    backend: Backend,
) -> Result<MigrationState, sqlx::Error> {
    let exists = match backend {
        Backend::Sqlite => {
            "SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name = '_sqlx_migrations'"
        }
        Backend::Postgres => {
            "SELECT COUNT(*) FROM information_schema.tables WHERE table_name = '_sqlx_migrations' \
             AND table_schema = ANY(current_schemas(false))"
        }
    };
    let n: i64 = sqlx::query(exists)
        .fetch_one(&mut *conn)
        .await?
        .try_get(0)?;
    if n == 0 {
        return Ok(MigrationState::compare(backend, &[], &[]));
    }
    let rows = sqlx::query("SELECT version, checksum FROM _sqlx_migrations WHERE success")
        .fetch_all(&mut *conn)
        .await?;
    let succeeded = rows
        .iter()
        .map(|r| Ok((r.try_get("version")?, r.try_get("checksum")?)))
        .collect::<Result<Vec<(i64, Vec<u8>)>, sqlx::Error>>()?;
    let failed = sqlx::query("SELECT version FROM _sqlx_migrations WHERE NOT success")
        .fetch_all(&mut *conn)
        .await?
        .iter()
        .map(|r| r.try_get("version"))
        .collect::<Result<Vec<i64>, sqlx::Error>>()?;
    Ok(MigrationState::compare(backend, &succeeded, &failed))
}

/// When the newest call record was offered, if there are calls (and a
/// calls table): a clock that went back shows as a record in the future.
pub(super) async fn newest_call_ms(conn: &mut AnyConnection) -> Result<Option<i64>, sqlx::Error> {
    sqlx::query("SELECT MAX(offered_at_ms) FROM calls")
        .fetch_one(conn)
        .await?
        .try_get(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn states_from_what_a_database_applied() {
        let ours: Vec<_> = migrator(Backend::Sqlite)
            .iter()
            .map(|m| (m.version, m.checksum.to_vec()))
            .collect();
        let empty = MigrationState::compare(Backend::Sqlite, &[], &[]);
        assert!(empty.is_empty_database() && !empty.is_current());
        assert_eq!(empty.pending.len(), ours.len());
        assert_eq!(empty.pending[0].0, 1);

        let current = MigrationState::compare(Backend::Sqlite, &ours, &[]);
        assert!(current.is_current() && !current.is_empty_database());

        let mut older = ours.clone();
        let last = older.pop().expect("migrations");
        let state = MigrationState::compare(Backend::Sqlite, &older, &[]);
        assert_eq!(
            state.pending.iter().map(|p| p.0).collect::<Vec<_>>(),
            [last.0]
        );

        let mut newer = older.clone();
        newer.push((99_999, vec![0]));
        newer[0].1 = vec![1, 2, 3];
        let state = MigrationState::compare(Backend::Sqlite, &newer, &[last.0]);
        assert_eq!(state.unknown, [99_999]);
        assert_eq!(state.changed, [ours[0].0]);
        assert_eq!(state.failed, [last.0]);
        assert!(state.pending.is_empty() && !state.is_current());
    }
}
