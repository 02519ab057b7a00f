//! Both migration folders describe one schema, and every `down.sql` undoes its `up.sql`.

use diesel::deserialize::QueryableByName;
use diesel::sql_types::{Nullable, Text};
use diesel::RunQueryDsl;
use portcullis_db::{Backend, DatabaseUrl, DbConn, PoolOptions};
use portcullis_tests::TestDb;

#[derive(QueryableByName, Debug, PartialEq)]
struct Row {
    #[diesel(sql_type = Text)]
    a: String,
    #[diesel(sql_type = Nullable<Text>)]
    b: Option<String>,
}

fn schema(conn: &mut DbConn) -> Vec<Row> {
    match conn {
        DbConn::Sqlite(sqlite) => diesel::sql_query(
            "SELECT name AS a, sql AS b FROM sqlite_master WHERE name NOT LIKE 'sqlite_%' ORDER BY name",
        )
        .load(sqlite)
        .unwrap(),
        DbConn::Postgres(pg) => diesel::sql_query(
            "SELECT table_name || '.' || column_name AS a,
                    data_type || ' ' || is_nullable || ' ' || coalesce(column_default, '') AS b
               FROM information_schema.columns WHERE table_schema = current_schema()
             UNION ALL
             SELECT indexname AS a, indexdef AS b FROM pg_indexes WHERE schemaname = current_schema()
             ORDER BY a",
        )
        .load(pg)
        .unwrap(),
    }
}

#[test]
fn up_down_up_leaves_the_same_schema() {
    let db = TestDb::new();
    let url = DatabaseUrl::parse(db.url()).unwrap();
    let mut conn = portcullis_db::connect(&url, &PoolOptions::default()).unwrap();
    let expected = portcullis_db::migration_versions(url.backend()).unwrap();

    let applied = portcullis_db::run_migrations(&mut conn).unwrap();
    assert_eq!(applied, expected);
    let first = schema(&mut conn);
    assert!(first.iter().any(|row| row.a.starts_with("users")), "{first:?}");

    let reverted = portcullis_db::revert_all_migrations(&mut conn).unwrap();
    assert_eq!(reverted.len(), expected.len());
    let empty = schema(&mut conn);
    assert!(
        empty
            .iter()
            .all(|row| row.a.starts_with("__diesel_schema_migrations")),
        "down.sql leaves nothing behind: {empty:?}"
    );

    portcullis_db::run_migrations(&mut conn).unwrap();
    assert_eq!(schema(&mut conn), first);
    assert_eq!(
        portcullis_db::applied_versions(&mut conn).unwrap().len(),
        expected.len()
    );
    assert!(
        portcullis_db::run_migrations(&mut conn).unwrap().is_empty(),
        "a second run applies nothing"
    );
}

#[test]
fn both_backends_embed_the_same_versions() {
    assert_eq!(
        portcullis_db::migration_versions(Backend::Postgres).unwrap(),
        portcullis_db::migration_versions(Backend::Sqlite).unwrap()
    );
}
