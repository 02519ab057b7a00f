use diesel::connection::SimpleConnection;
use diesel::migration::MigrationSource;
use diesel::pg::Pg;
use diesel::sqlite::Sqlite;
use diesel_migrations::{embed_migrations, EmbeddedMigrations, MigrationHarness};

use crate::{Backend, DbConn, DbError};

const POSTGRES: EmbeddedMigrations = embed_migrations!("../../migrations/postgres");
const SQLITE: EmbeddedMigrations = embed_migrations!("../../migrations/sqlite");

/// Serialises concurrent `migrate` runs across instances sharing one PostgreSQL database (diesel's
/// harness alone lets two of them race on the same version). The number is arbitrary but fixed.
const MIGRATION_LOCK_KEY: i64 = 0x7063_735f_6d69_6772;

/// Applies every pending migration and returns the versions applied.
pub fn run_migrations(conn: &mut DbConn) -> Result<Vec<String>, DbError> {
    let applied = match conn {
        DbConn::Postgres(pg) => {
            pg.batch_execute(&format!("SELECT pg_advisory_lock({MIGRATION_LOCK_KEY})"))?;
            let result = pg.run_pending_migrations(POSTGRES).map(versions);
            pg.batch_execute(&format!("SELECT pg_advisory_unlock({MIGRATION_LOCK_KEY})"))?;
            result
        }
        DbConn::Sqlite(sqlite) => sqlite.run_pending_migrations(SQLITE).map(versions),
    };
    applied.map_err(|err| DbError::Migration(err.to_string()))
}

/// Reverts every applied migration, newest first (tests use it to prove each `down.sql` undoes its `up.sql`).
pub fn revert_all_migrations(conn: &mut DbConn) -> Result<Vec<String>, DbError> {
    let reverted = match conn {
        DbConn::Postgres(pg) => pg.revert_all_migrations(POSTGRES).map(versions),
        DbConn::Sqlite(sqlite) => sqlite.revert_all_migrations(SQLITE).map(versions),
    };
    reverted.map_err(|err| DbError::Migration(err.to_string()))
}

/// The versions applied to this database.
pub fn applied_versions(conn: &mut DbConn) -> Result<Vec<String>, DbError> {
    let applied = match conn {
        DbConn::Postgres(pg) => pg.applied_migrations().map(versions),
        DbConn::Sqlite(sqlite) => sqlite.applied_migrations().map(versions),
    };
    applied.map_err(|err| DbError::Migration(err.to_string()))
}

/// The versions embedded in this binary for a backend, oldest first.
pub fn migration_versions(backend: Backend) -> Result<Vec<String>, DbError> {
    let names = match backend {
        Backend::Postgres => MigrationSource::<Pg>::migrations(&POSTGRES)
            .map(|all| all.iter().map(|m| m.name().version().to_string()).collect()),
        Backend::Sqlite => MigrationSource::<Sqlite>::migrations(&SQLITE)
            .map(|all| all.iter().map(|m| m.name().version().to_string()).collect()),
    };
    names.map_err(|err| DbError::Migration(err.to_string()))
}

fn versions<V: std::fmt::Display>(list: Vec<V>) -> Vec<String> {
    list.iter().map(ToString::to_string).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_backends_have_the_same_migration_versions() {
        let postgres = migration_versions(Backend::Postgres).unwrap();
        let sqlite = migration_versions(Backend::Sqlite).unwrap();
        assert!(!postgres.is_empty());
        assert_eq!(postgres, sqlite);
    }
}
