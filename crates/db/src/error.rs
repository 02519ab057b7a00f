use diesel::result::{DatabaseErrorKind, Error as DieselError};

/// What can go wrong below the HTTP layer. The messages are for the log, never for a client.
#[derive(Debug, thiserror::Error)]
pub enum DbError {
    /// `DATABASE_URL` names no backend this build knows.
    #[error("unsupported DATABASE_URL {0:?}: expected sqlite://PATH, postgres://… or postgresql://…")]
    UnsupportedUrl(String),
    /// The backend refused or could not open a connection; carries the driver's own message.
    #[error("cannot connect to the database: {0}")]
    Connect(#[from] diesel::ConnectionError),
    /// No connection could be had in time, or the connection broke: the database is down or overloaded.
    #[error("database unavailable: {0}")]
    Unavailable(String),
    /// The row asked for does not exist (or is outside the caller's tenant).
    #[error("record not found")]
    NotFound,
    /// A unique index refused the write; carries the constraint name or the driver's message.
    #[error("unique constraint violated: {0}")]
    UniqueViolation(String),
    /// Any other query failure.
    #[error("database query failed: {0}")]
    Query(DieselError),
    /// A migration could not be applied or reverted.
    #[error("migration failed: {0}")]
    Migration(String),
    /// The SQLite file's folder could not be created.
    #[error("cannot prepare the database folder {path}: {source}")]
    Io {
        /// The folder.
        path: String,
        /// The cause.
        source: std::io::Error,
    },
}

impl DbError {
    /// True when the failure is the database being unreachable or busy rather than a bad query:
    /// the client should retry later (503) instead of seeing a 500.
    pub fn is_unavailable(&self) -> bool {
        matches!(self, DbError::Unavailable(_) | DbError::Connect(_))
    }
}

impl From<DieselError> for DbError {
    fn from(err: DieselError) -> Self {
        match err {
            DieselError::NotFound => DbError::NotFound,
            DieselError::DatabaseError(DatabaseErrorKind::UniqueViolation, info) => {
                DbError::UniqueViolation(info.constraint_name().unwrap_or(info.message()).to_owned())
            }
            // The server went away: libpq marks the connection bad (diesel reports `ClosedConnection`),
            // or the query could not even be sent (`UnableToSendCommand`, PostgreSQL only; SQLite uses
            // it for SQL function registration, which this crate does not do). The pool drops such a
            // connection when it comes back (`Manager::has_broken`).
            DieselError::DatabaseError(
                DatabaseErrorKind::ClosedConnection | DatabaseErrorKind::UnableToSendCommand,
                info,
            ) => DbError::Unavailable(info.message().to_owned()),
            // SQLite reports a lock it could not get within busy_timeout this way; PostgreSQL reports a
            // lost server the same way. Both are "try again later", not a bug.
            DieselError::DatabaseError(DatabaseErrorKind::Unknown, info)
                if is_transient_message(info.message()) =>
            {
                DbError::Unavailable(info.message().to_owned())
            }
            other => DbError::Query(other),
        }
    }
}

fn is_transient_message(message: &str) -> bool {
    const TRANSIENT: [&str; 6] = [
        "database is locked",
        "database table is locked",
        "server closed the connection",
        "terminating connection",
        "connection to server",
        "no connection to the server",
    ];
    TRANSIENT.iter().any(|needle| message.contains(needle))
}

impl From<r2d2::Error> for DbError {
    fn from(err: r2d2::Error) -> Self {
        DbError::Unavailable(err.to_string())
    }
}
