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

/// Runs `$body` with `$c` bound to the concrete connection inside a [`DbConn`], for the queries every
/// request makes. Through the multi-backend connection diesel writes a query's SQL out again on
/// every execution to find its prepared statement (a profile of the project read on SQLite had a
/// quarter of the server's time there); on the concrete connection a query whose type fixes its
/// SQL finds its statement by type, without writing the SQL. The body is compiled once per backend.
#[macro_export]
macro_rules! on_backend {
    ($conn:expr, |$c:ident| $body:expr) => {
        match $conn {
            $crate::DbConn::Postgres($c) => $body,
            $crate::DbConn::Sqlite($c) => $body,
        }
    };
}
pub(crate) use crate::on_backend;

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
                let mut conn = self.open_sqlite(options)?;
                let path = self.sqlite_path().unwrap_or(Path::new(""));
                let writer = is_plain_file(path).then(|| (self.clone(), options.clone()));
                conn.set_instrumentation(WriterSlot::for_file(path, options.checkout_timeout, writer));
                Ok(DbConn::Sqlite(conn))
            }
        }
    }

    /// Opens a SQLite connection with the per-connection pragmas, and no handle on the writer lock
    /// (what [`establish`](Self::establish) adds, and what the writer connection of `tx` must not
    /// have: it belongs to the lock).
    pub(crate) fn open_sqlite(&self, options: &PoolOptions) -> Result<SqliteConnection, DbError> {
        match self.backend {
            Backend::Postgres => Err(DbError::UnsupportedUrl(
                "a PostgreSQL URL where SQLite is meant".into(),
            )),
            Backend::Sqlite => {
                let path = self.sqlite_path().unwrap_or(Path::new(""));
                create_parent_dir(path)?;
                create_private_file(path)?;
                let mut conn = SqliteConnection::establish(&path.to_string_lossy())?;
                // For a file, no checkpoint after a commit: a thread runs them beside the writers
                // (`checkpoint`); a log started over is cut back to 16 MiB on disk.
                let checkpoints = if is_plain_file(path) {
                    "PRAGMA wal_autocheckpoint = 0; PRAGMA journal_size_limit = 16777216;"
                } else {
                    ""
                };
                conn.batch_execute(&format!(
                    "PRAGMA foreign_keys = ON; PRAGMA busy_timeout = {}; PRAGMA synchronous = NORMAL; \
                     {checkpoints}",
                    options.sqlite_busy_timeout.as_millis()
                ))
                .map_err(DbError::from)?;
                Ok(conn)
            }
        }
    }
}

/// Creates the database's folder, private to the server's user (0700 on Unix, like every folder the
/// call creates): the database holds password hashes and token hashes. An existing folder is left as
/// it is.
fn create_parent_dir(path: &Path) -> Result<(), DbError> {
    match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() && !dir.exists() => {
            create_private_dir(dir).map_err(|source| DbError::Io {
                path: PathBuf::from(dir).display().to_string(),
                source,
            })
        }
        _ => Ok(()),
    }
}

#[cfg(unix)]
fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::DirBuilderExt;
    std::fs::DirBuilder::new().recursive(true).mode(0o700).create(dir)
}

#[cfg(not(unix))]
fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)
}

/// Whether a SQLite path names a file (not `:memory:`, not a `file:` URI, which are SQLite's to
/// interpret).
pub(crate) fn is_plain_file(path: &Path) -> bool {
    let name = path.to_string_lossy();
    !(name.is_empty() || name == ":memory:" || name.starts_with("file:"))
}

/// Creates a missing database file empty and readable by the server's user only (0600 on Unix)
/// before SQLite opens it. SQLite would create it with the process umask (often 0644: readable by
/// every local user) and gives its `-wal` and `-shm` files the database file's mode, so this one
/// creation decides for all three. SQLite takes an empty file as an empty database. An existing file
/// keeps its mode; `:memory:` and `file:` URIs are SQLite's to interpret.
fn create_private_file(path: &Path) -> Result<(), DbError> {
    if !is_plain_file(path) {
        return Ok(());
    }
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    match options.open(path) {
        Ok(_) => Ok(()),
        // Already there (another connection, or an earlier run): SQLite opens it as it is.
        Err(err) if err.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(source) => Err(DbError::Io {
            path: path.display().to_string(),
            source,
        }),
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
