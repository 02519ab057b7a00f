//! A database per test, and SQL run straight on it (bypassing the server).

use diesel::{Connection, PgConnection, RunQueryDsl};

use crate::TestApp;

/// Which backend this run of the suite uses.
///
/// Without an explicit `sslmode`, test connections go without TLS: libpq is built with OpenSSL, and
/// OpenSSL's exit-time cleanup can crash the test process when a pool thread of a finished test is
/// still connecting as the harness exits. The local test server needs no TLS.
pub fn postgres_admin_url() -> Option<String> {
    let url = std::env::var("TEST_POSTGRES_URL")
        .ok()
        .filter(|url| !url.trim().is_empty())?;
    if url.contains("sslmode=") {
        return Some(url);
    }
    let separator = if url.contains('?') { '&' } else { '?' };
    Some(format!("{url}{separator}sslmode=disable"))
}

/// A database that exists for one test only.
pub struct TestDb {
    url: String,
    postgres: Option<(String, String)>,
    dir: tempfile::TempDir,
}

impl TestDb {
    /// A new empty database on the backend of this run.
    pub fn new() -> TestDb {
        let dir = tempfile::tempdir().expect("temp dir");
        match postgres_admin_url() {
            Some(admin) => {
                let name = format!("pcs_test_{}", uuid::Uuid::now_v7().simple());
                let mut conn = PgConnection::establish(&admin).unwrap_or_else(|err| {
                    panic!("TEST_POSTGRES_URL is set but PostgreSQL is unreachable: {err}")
                });
                diesel::sql_query(format!("CREATE DATABASE {name}"))
                    .execute(&mut conn)
                    .expect("create test database");
                let url = replace_database(&admin, &name);
                TestDb {
                    url,
                    postgres: Some((admin, name)),
                    dir,
                }
            }
            None => {
                let url = format!("sqlite://{}", dir.path().join("portcullis.db").display());
                TestDb {
                    url,
                    postgres: None,
                    dir,
                }
            }
        }
    }

    /// The `DATABASE_URL` of this database.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// True on PostgreSQL runs.
    pub fn is_postgres(&self) -> bool {
        self.postgres.is_some()
    }

    /// The same database for a second server instance, with a data folder of its own. It does not
    /// drop the database: keep the original alive at least as long.
    pub fn shared(&self) -> TestDb {
        TestDb {
            url: self.url.clone(),
            postgres: None,
            dir: tempfile::tempdir().expect("temp dir"),
        }
    }

    /// A folder that lives as long as the database (data dir, certificates, …).
    pub fn dir(&self) -> &std::path::Path {
        self.dir.path()
    }
}

impl Default for TestDb {
    fn default() -> Self {
        TestDb::new()
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        if let Some((admin, name)) = &self.postgres {
            if let Ok(mut conn) = PgConnection::establish(admin) {
                let _ = diesel::sql_query(format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                    .execute(&mut conn);
            }
        }
    }
}

/// Swaps the database name of a PostgreSQL URL, keeping any query string.
pub fn replace_database(url: &str, database: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((base, query)) => (base, format!("?{query}")),
        None => (url, String::new()),
    };
    let authority_end = base.find("://").map(|i| i + 3).unwrap_or(0);
    let host_part = match base[authority_end..].find('/') {
        Some(slash) => &base[..authority_end + slash],
        None => base,
    };
    format!("{host_part}/{database}{query}")
}

/// Runs one SQL statement straight on the test database (to age a row, say), bypassing the server.
pub fn execute_sql(app: &TestApp, sql: &str) -> usize {
    let url = portcullis_db::DatabaseUrl::parse(app.db.url()).expect("database url");
    let mut conn =
        portcullis_db::connect(&url, &portcullis_db::PoolOptions::default()).expect("test database");
    let statement = diesel::sql_query(sql);
    match &mut conn {
        portcullis_db::DbConn::Postgres(pg) => statement.execute(pg),
        portcullis_db::DbConn::Sqlite(sqlite) => statement.execute(sqlite),
    }
    .expect("statement runs")
}

/// Counts the rows of `table` matching the SQL condition `filter`, straight on the test database.
pub fn count_rows(app: &TestApp, table: &str, filter: &str) -> i64 {
    #[derive(diesel::QueryableByName)]
    struct Count {
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        n: i64,
    }
    let url = portcullis_db::DatabaseUrl::parse(app.db.url()).expect("database url");
    let mut conn =
        portcullis_db::connect(&url, &portcullis_db::PoolOptions::default()).expect("test database");
    let statement = diesel::sql_query(format!("SELECT COUNT(*) AS n FROM {table} WHERE {filter}"));
    let rows: Vec<Count> = match &mut conn {
        portcullis_db::DbConn::Postgres(pg) => statement.load(pg),
        portcullis_db::DbConn::Sqlite(sqlite) => statement.load(sqlite),
    }
    .expect("count query runs");
    rows.first().map(|row| row.n).unwrap_or(0)
}

/// A timestamp literal both backends accept, `seconds` from now (negative: in the past).
pub fn sql_time(seconds: i64) -> String {
    (portcullis_db::now() + chrono::Duration::seconds(seconds))
        .format("%Y-%m-%d %H:%M:%S")
        .to_string()
}
