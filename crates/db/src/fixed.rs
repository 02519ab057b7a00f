//! Statements with a fixed SQL text that diesel keeps prepared.
//!
//! diesel's `UPDATE` builder marks every update unsafe to cache, so each execution is parsed and
//! planned again; on PostgreSQL that is server work on every request (a profile of the refresh on
//! PostgreSQL had the backends busy in the parser and catalog lookups, with two such updates per
//! refresh). A statement declared here writes the same SQL every time and has a type of its own, so
//! diesel finds it in the connection's statement cache by that type: prepared once per connection,
//! then only bound and executed. Only the statements every request makes are worth one.

/// Declares a statement with fixed SQL: a struct of its bind values, and diesel's query traits for
/// the backends listed (both when none are). The SQL is a list of text pieces, each optionally
/// followed by the field bound after it (a field, or a field of a field) and its SQL type:
/// `["UPDATE t SET a = " (a: Text), " WHERE id = " (row.id: Text)]`.
macro_rules! fixed_statement {
    (
        $(#[$meta:meta])*
        $vis:vis struct $name:ident<'a> { $($field:ident: $ty:ty),* $(,)? }
        sql: [$($sql:literal $(($($bind:ident).+: $sql_ty:ty))?),* $(,)?]
    ) => {
        $crate::fixed::fixed_statement! {
            $(#[$meta])*
            $vis struct $name<'a> { $($field: $ty),* }
            backends: [diesel::pg::Pg, diesel::sqlite::Sqlite]
            sql: [$($sql $(($($bind).+: $sql_ty))?),*]
        }
    };
    (
        $(#[$meta:meta])*
        $vis:vis struct $name:ident<'a> { $($field:ident: $ty:ty),* $(,)? }
        backends: [$($db:ty),+]
        sql: [$($sql:literal $(($($bind:ident).+: $sql_ty:ty))?),* $(,)?]
    ) => {
        $(#[$meta])*
        $vis struct $name<'a> {
            $(pub(crate) $field: $ty,)*
        }

        impl diesel::query_builder::QueryId for $name<'_> {
            type QueryId = $name<'static>;
            // The SQL text depends on the type alone: the statement cache may key it by type.
            const HAS_STATIC_QUERY_ID: bool = true;
        }

        impl<Conn> diesel::RunQueryDsl<Conn> for $name<'_> {}

        $crate::fixed::fixed_statement!(@impl $name [$($db),+] [$($sql $(($($bind).+: $sql_ty))?),*]);
    };
    (@impl $name:ident [] $sql:tt) => {};
    (
        @impl $name:ident [$db:ty $(, $rest:ty)*]
        [$($sql:literal $(($($bind:ident).+: $sql_ty:ty))?),*]
    ) => {
        impl diesel::query_builder::QueryFragment<$db> for $name<'_> {
            fn walk_ast<'b>(
                &'b self,
                mut out: diesel::query_builder::AstPass<'_, 'b, $db>,
            ) -> diesel::QueryResult<()> {
                $(
                    out.push_sql($sql);
                    $(out.push_bind_param::<$sql_ty, _>(&self.$($bind).+)?;)?
                )*
                Ok(())
            }
        }
        $crate::fixed::fixed_statement!(@impl $name [$($rest),*] [$($sql $(($($bind).+: $sql_ty))?),*]);
    };
}
pub(crate) use fixed_statement;

#[cfg(test)]
mod tests {
    use diesel::connection::SimpleConnection;
    use diesel::sql_types::Text;
    use diesel::{Connection, RunQueryDsl, SqliteConnection};

    fixed_statement! {
        struct Rename<'a> { id: &'a str, name: &'a str }
        sql: ["UPDATE t SET name = " (name: Text), " WHERE id = " (id: Text)]
    }

    #[test]
    fn a_fixed_statement_binds_its_fields_in_order_and_is_prepared_once() {
        let mut conn = SqliteConnection::establish(":memory:").unwrap();
        conn.batch_execute(
            "CREATE TABLE t (id TEXT PRIMARY KEY, name TEXT); INSERT INTO t VALUES ('a', 'x'), ('b', 'y');",
        )
        .unwrap();
        // Counts the statements diesel puts into the connection's cache.
        let cached = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let counted = cached.clone();
        conn.set_instrumentation(move |event: diesel::connection::InstrumentationEvent<'_>| {
            if let diesel::connection::InstrumentationEvent::CacheQuery { .. } = event {
                counted.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            }
        });
        let changed = Rename { id: "b", name: "z" }.execute(&mut conn).unwrap();
        assert_eq!(changed, 1);
        Rename { id: "a", name: "w" }.execute(&mut conn).unwrap();
        Rename { id: "c", name: "v" }.execute(&mut conn).unwrap();
        // Prepared and cached by the first execution, reused by the next two (diesel's own UPDATE
        // is never cached: 0).
        assert_eq!(cached.load(std::sync::atomic::Ordering::Relaxed), 1);

        let names: Vec<(String, String)> = diesel::sql_query("SELECT id, name FROM t ORDER BY id")
            .load::<NamePair>(&mut conn)
            .unwrap()
            .into_iter()
            .map(|row| (row.id, row.name))
            .collect();
        assert_eq!(names, [("a".into(), "w".into()), ("b".into(), "z".into())]);
    }

    #[derive(diesel::QueryableByName)]
    struct NamePair {
        #[diesel(sql_type = Text)]
        id: String,
        #[diesel(sql_type = Text)]
        name: String,
    }
}
