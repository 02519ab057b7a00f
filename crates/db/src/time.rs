use chrono::{NaiveDateTime, SubsecRound, Utc};

/// The current UTC time at the precision both backends store (microseconds), so a value written
/// and read back compares equal on SQLite and PostgreSQL alike.
pub fn now() -> NaiveDateTime {
    Utc::now().naive_utc().trunc_subsecs(6)
}
