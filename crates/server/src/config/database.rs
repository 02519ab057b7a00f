//! The database and its pool (`DATABASE_URL`, `DB_POOL_SIZE`, `DB_CHECKOUT_TIMEOUT_MS`,
//! `SQLITE_BUSY_TIMEOUT_MS`).

use std::time::Duration;

use portcullis_db::{DatabaseUrl, PoolOptions};

use super::reader::Reader;

impl Reader<'_> {
    pub(super) fn database_url(&mut self) -> Option<DatabaseUrl> {
        let url = self.get("DATABASE_URL").unwrap_or("sqlite://data/portcullis.db");
        match DatabaseUrl::parse(url) {
            Ok(url) => Some(url),
            Err(err) => {
                self.problem(format!("DATABASE_URL: {err}"));
                None
            }
        }
    }

    pub(super) fn pool(&mut self) -> Option<PoolOptions> {
        let max_size = self.parse(
            "DB_POOL_SIZE",
            Some(10u32),
            "a number of connections from 1 to 1000",
        );
        if max_size.is_some_and(|n| n == 0 || n > 1000) {
            self.problem("DB_POOL_SIZE must be from 1 to 1000".into());
        }
        let checkout_ms = self.parse("DB_CHECKOUT_TIMEOUT_MS", Some(2000u64), "milliseconds");
        let busy_ms = self.parse("SQLITE_BUSY_TIMEOUT_MS", Some(2000u64), "milliseconds");
        Some(PoolOptions {
            max_size: max_size?.clamp(1, 1000),
            checkout_timeout: Duration::from_millis(checkout_ms?),
            sqlite_busy_timeout: Duration::from_millis(busy_ms?),
        })
    }
}
