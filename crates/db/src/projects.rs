//! The `projects` table. Every function takes the tenant and filters by it.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use diesel::sql_types::{BigInt, Nullable, Text, Timestamp};

use crate::audit::{self, AuditEvent};
use crate::conn::on_backend;
use crate::fixed::fixed_statement;
use crate::memberships::{session_standing_rows, SessionCaller, SessionStanding};
use crate::schema::{member_roles, memberships, projects, tenants};
use crate::{lock_writes, write_transaction, DbConn, DbError, TenantId};

/// A stored project.
#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = projects)]
pub struct Project {
    /// UUID v7.
    pub id: String,
    /// Its tenant.
    pub tenant_id: String,
    /// Name.
    pub name: String,
    /// Lower-cased name, for the `q` filter.
    pub name_lower: String,
    /// Description.
    pub description: Option<String>,
    /// Who created it (a user id).
    pub created_by: String,
    /// When.
    pub created_at: NaiveDateTime,
    /// Last change.
    pub updated_at: NaiveDateTime,
    /// Starts at 1, +1 per update.
    pub version: i64,
}

/// Stores a project.
pub fn insert(conn: &mut DbConn, project: &Project) -> Result<(), DbError> {
    let _writing = lock_writes(conn)?;
    on_backend!(conn, |c| diesel::insert_into(projects::table)
        .values(project)
        .execute(c)?);
    Ok(())
}

/// Stores a project and its audit event, both or neither. On PostgreSQL one statement (the project
/// insert as a data-modifying `WITH`), so neither a transaction nor a second round trip; on SQLite,
/// which has no data-modifying `WITH`, a write transaction of its own (a savepoint when called inside
/// [`write_transaction`]). A tenant deleted since the caller's standing was read is
/// [`DbError::NotFound`], as for any tenant that does not exist.
pub fn insert_audited(conn: &mut DbConn, project: &Project, event: &AuditEvent) -> Result<(), DbError> {
    let stored = if let DbConn::Postgres(pg) = conn {
        InsertAudited { project, event }
            .execute(pg)
            .map(|_| ())
            .map_err(DbError::from)
    } else {
        write_transaction(conn, |conn| {
            insert(conn, project)?;
            audit::insert(conn, event)
        })
    };
    match stored {
        Err(DbError::Query(diesel::result::Error::DatabaseError(
            diesel::result::DatabaseErrorKind::ForeignKeyViolation,
            _,
        ))) => Err(DbError::NotFound),
        other => other,
    }
}

fixed_statement! {
    /// [`insert_audited`] on PostgreSQL.
    struct InsertAudited<'a> { project: &'a Project, event: &'a AuditEvent }
    backends: [diesel::pg::Pg]
    sql: [
        "WITH project AS (INSERT INTO projects (id, tenant_id, name, name_lower, description, created_by, \
         created_at, updated_at, version) VALUES (" (project.id: Text),
        ", " (project.tenant_id: Text),
        ", " (project.name: Text),
        ", " (project.name_lower: Text),
        ", " (project.description: Nullable<Text>),
        ", " (project.created_by: Text),
        ", " (project.created_at: Timestamp),
        ", " (project.updated_at: Timestamp),
        ", " (project.version: BigInt),
        ")) INSERT INTO audit_events (id, tenant_id, action, actor_type, actor_id, target_type, \
         target_id, ip, user_agent, details, created_at) VALUES (" (event.id: Text),
        ", " (event.tenant_id: Text),
        ", " (event.action: Text),
        ", " (event.actor_type: Text),
        ", " (event.actor_id: Text),
        ", " (event.target_type: Text),
        ", " (event.target_id: Text),
        ", " (event.ip: Nullable<Text>),
        ", " (event.user_agent: Nullable<Text>),
        ", " (event.details: Text),
        ", " (event.created_at: Timestamp),
        ")",
    ]
}

/// One project of the tenant.
pub fn find(conn: &mut DbConn, tenant: &TenantId, id: &str) -> Result<Project, DbError> {
    Ok(on_backend!(conn, |c| projects::table
        .find(id)
        .filter(projects::tenant_id.eq(tenant.as_str()))
        .select(Project::as_select())
        .get_result(c)?))
}

/// The caller's standing in the tenant and the tenant's project `id` (when it exists), in one
/// statement: a tenant read by a signed-in member costs one round trip, not two. The standing is
/// what [`crate::memberships::session_standing`] returns; the project is only for a caller whom that
/// standing authorizes, which the caller of this function decides before looking at it.
pub fn find_with_standing(
    conn: &mut DbConn,
    caller: &SessionCaller<'_>,
    id: &str,
) -> Result<(SessionStanding, Option<Project>), DbError> {
    let rows: Vec<(Option<bool>, Option<String>, Option<Project>)> = on_backend!(conn, |c| {
        session_standing_rows!(
            caller,
            join projects::table.on(projects::id
                .eq(id.to_owned())
                .and(projects::tenant_id.eq(memberships::tenant_id)))
        )
        .select((
            tenants::require_mfa.nullable(),
            member_roles::role_name.nullable(),
            Option::<Project>::as_select(),
        ))
        .load(c)?
    });
    // One row per role, each with the same project.
    let mut project = None;
    let standing = SessionStanding::of_rows(
        rows.into_iter()
            .map(|(mfa, role, found)| {
                project = project.take().or(found);
                (mfa, role)
            })
            .collect(),
    );
    Ok((standing, project))
}

/// A page of the tenant's projects, newest first. `name_contains` must already be lower-cased.
/// Keyset pagination on the time-ordered id: rows inserted meanwhile sort before the cursor, so pages
/// neither repeat nor skip rows.
pub fn page(
    conn: &mut DbConn,
    tenant: &TenantId,
    name_contains: Option<&str>,
    before: Option<&str>,
    limit: i64,
) -> Result<Vec<Project>, DbError> {
    let mut query = projects::table
        .filter(projects::tenant_id.eq(tenant.as_str()))
        .order(projects::id.desc())
        .limit(limit)
        .select(Project::as_select())
        .into_boxed();
    if let Some(needle) = name_contains {
        query = query.filter(projects::name_lower.like(like_pattern(needle)).escape('\\'));
    }
    if let Some(before) = before {
        query = query.filter(projects::id.lt(before.to_owned()));
    }
    Ok(query.load(conn)?)
}

/// `%needle%` with LIKE's wildcards in the needle taken literally.
fn like_pattern(needle: &str) -> String {
    let escaped = needle
        .replace('\\', "\\\\")
        .replace('%', "\\%")
        .replace('_', "\\_");
    format!("%{escaped}%")
}

/// The fields of an update.
#[derive(Debug, AsChangeset)]
#[diesel(table_name = projects)]
pub struct ProjectChanges<'a> {
    /// New name.
    pub name: Option<&'a str>,
    /// Its lower-cased form.
    pub name_lower: Option<String>,
    /// New description (`Some(None)` clears it).
    pub description: Option<Option<&'a str>>,
    /// Update time.
    pub updated_at: NaiveDateTime,
}

/// Applies changes and bumps the version, only if the version is still `expected` (when given).
/// Returns false when the project does not exist in the tenant or its version moved on; the single
/// conditional UPDATE is what lets exactly one of several concurrent writers win.
pub fn update(
    conn: &mut DbConn,
    tenant: &TenantId,
    id: &str,
    expected: Option<i64>,
    changes: &ProjectChanges<'_>,
) -> Result<bool, DbError> {
    let _writing = lock_writes(conn)?;
    let target = projects::table
        .find(id)
        .filter(projects::tenant_id.eq(tenant.as_str()));
    let changed = match expected {
        Some(version) => diesel::update(target.filter(projects::version.eq(version)))
            .set((changes, projects::version.eq(projects::version + 1)))
            .execute(conn)?,
        None => diesel::update(target)
            .set((changes, projects::version.eq(projects::version + 1)))
            .execute(conn)?,
    };
    Ok(changed == 1)
}

/// Deletes a project of the tenant; false when there is none.
pub fn delete(conn: &mut DbConn, tenant: &TenantId, id: &str) -> Result<bool, DbError> {
    let _writing = lock_writes(conn)?;
    let changed = diesel::delete(
        projects::table
            .find(id)
            .filter(projects::tenant_id.eq(tenant.as_str())),
    )
    .execute(conn)?;
    Ok(changed == 1)
}

#[cfg(test)]
mod tests {
    use super::like_pattern;

    #[test]
    fn wildcards_in_the_needle_are_literal() {
        assert_eq!(like_pattern("a%b_c\\"), "%a\\%b\\_c\\\\%");
    }
}
