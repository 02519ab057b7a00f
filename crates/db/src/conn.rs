use diesel::connection::SimpleConnection;
use diesel::pg::PgConnection;
use diesel::sqlite::SqliteConnection;
use diesel::Connection;
use std::path::{Path, PathBuf};

use crate::tx::WriterSlot;
use crate::{DbError, PoolOptions};

/// One connection to whichever backend `DATABASE_URL` names.
#[derive(diesel::MultiConnection)]
pub enum DbConn {
    /// PostgreSQL, the production database.
    Postgres(PgConnection),
    /// SQLite, the embedded default.
    Sqlite(SqliteConnection),
}

/// The backend a URL selects.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// `postgres://` or `postgresql://`.
    Postgres,
    /// `sqlite://PATH`.
    Sqlite,
}

/// A parsed `DATABASE_URL`. Parsing picks the backend from the scheme alone, so a typo never falls
/// through to "try every backend" and a PostgreSQL URL can never leave a stray SQLite file behind.
#[derive(Clone)]
pub struct DatabaseUrl {
    backend: Backend,
    url: String,
}

impl std::fmt::Debug for DatabaseUrl {
    // The URL may hold a password.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DatabaseUrl")
            .field("backend", &self.backend)
            .finish_non_exhaustive()
    }
}

impl DatabaseUrl {
    /// Parses `sqlite://PATH`, `postgres://…` or `postgresql://…`.
    pub fn parse(url: &str) -> Result<Self, DbError> {
        let backend = if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Backend::Postgres
        } else if url.strip_prefix("sqlite://").is_some_and(|path| !path.is_empty()) {
            Backend::Sqlite
        } else {
            return Err(DbError::UnsupportedUrl(redact(url)));
        };
        Ok(DatabaseUrl {
            backend,
            url: url.to_owned(),
        })
    }

    /// The selected backend.
    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// The URL as given (may contain a password: do not log it).
    pub fn as_str(&self) -> &str {
        &self.url
    }

    /// The database file of a SQLite URL.
    pub fn sqlite_path(&self) -> Option<&Path> {
        match self.backend {
            Backend::Sqlite => self.url.strip_prefix("sqlite://").map(Path::new),
            Backend::Postgres => None,
        }
    }

    /// Opens one connection, reporting the driver's own error. SQLite connections get the per-connection
    /// pragmas and their handle on the file's writer lock here, so every pooled connection has them.
    pub(crate) fn establish(&self, options: &PoolOptions) -> Result<DbConn, DbError> {
        match self.backend {
            Backend::Postgres => Ok(DbConn::Postgres(PgConnection::establish(&self.url)?)),
            Backend::Sqlite => {
                let path = self.sqlite_path().unwrap_or(Path::new(""));
                create_parent_dir(path)?;
                let mut conn = SqliteConnection::establish(&path.to_string_lossy())?;
                conn.batch_execute(&format!(
                    "PRAGMA foreign_keys = ON; PRAGMA busy_timeout = {}; PRAGMA synchronous = NORMAL;",
                    options.sqlite_busy_timeout.as_millis()
                ))
                .map_err(DbError::from)?;
                conn.set_instrumentation(WriterSlot::for_file(path, options.checkout_timeout));
                Ok(DbConn::Sqlite(conn))
            }
        }
    }
}

fn create_parent_dir(path: &Path) -> Result<(), DbError> {
    match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() && !dir.exists() => {
            std::fs::create_dir_all(dir).map_err(|source| DbError::Io {
                path: PathBuf::from(dir).display().to_string(),
                source,
            })
        }
        _ => Ok(()),
    }
}

/// Drops the password of a URL before it goes into an error message.
fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme_end), Some(at)) if at > scheme_end => {
            let userinfo = &url[scheme_end + 3..at];
            let user = userinfo.split(':').next().unwrap_or("");
            format!("{}://{}:***@{}", &url[..scheme_end], user, &url[at + 1..])
        }
        _ => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scheme_selects_the_backend() {
        assert_eq!(
            DatabaseUrl::parse("postgres://u@h/db").unwrap().backend(),
            Backend::Postgres
        );
        assert_eq!(
            DatabaseUrl::parse("postgresql://u@h/db").unwrap().backend(),
            Backend::Postgres
        );
        let sqlite = DatabaseUrl::parse("sqlite://data/x.db").unwrap();
        assert_eq!(sqlite.backend(), Backend::Sqlite);
        assert_eq!(sqlite.sqlite_path(), Some(Path::new("data/x.db")));
    }

    #[test]
    fn unknown_schemes_are_refused_without_leaking_the_password() {
        for url in ["mysql://u:secret@h/db", "data/x.db", "sqlite://", ""] {
            let err = DatabaseUrl::parse(url).unwrap_err().to_string();
            assert!(!err.contains("secret"), "{err}");
        }
        assert!(DatabaseUrl::parse("mysql://u:secret@h/db")
            .unwrap_err()
            .to_string()
            .contains("u:***@h/db"));
    }
}
