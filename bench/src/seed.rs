//! Seeding: 100 tenants, 5,000 users, 100,000 projects, written straight through `portcullis-db`.

use argon2::password_hash::{PasswordHasher, SaltString};
use argon2::Argon2;
use diesel::prelude::*;
use portcullis_db::schema::{member_roles, memberships, projects, sessions, tenants, users};
use portcullis_db::{DatabaseUrl, DbConn, PoolOptions};

use crate::{fail, Result};

/// The password of every seeded user.
pub const PASSWORD: &str = "correct horse battery staple";

/// How big the data set is.
#[derive(Debug, Clone, Copy)]
pub struct Size {
    /// Tenants.
    pub tenants: usize,
    /// Users.
    pub users: usize,
    /// Projects in all.
    pub projects: usize,
}

/// What the scenarios need to know of the seeded data.
pub struct Seeded {
    /// Tenant ids.
    pub tenants: Vec<String>,
    /// Per tenant, the email of a user who may read and write its projects.
    pub members: Vec<String>,
    /// Per tenant, some of its project ids.
    pub projects: Vec<Vec<String>>,
    /// Sessions the baseline's read-update-insert transaction works on.
    pub sessions: Vec<String>,
    /// The PHC hash of [`PASSWORD`] with the production argon2 parameters.
    pub hash: String,
}

pub fn seed(url: &DatabaseUrl, size: Size) -> Result<Seeded> {
    let mut conn = portcullis_db::connect(url, &PoolOptions::default()).map_err(fail("connect"))?;
    portcullis_db::run_migrations(&mut conn).map_err(fail("migrate"))?;
    let salt = SaltString::encode_b64(b"portcullis-bench").map_err(fail("salt"))?;
    let hash = Argon2::default()
        .hash_password(PASSWORD.as_bytes(), &salt)
        .map_err(fail("hash"))?
        .to_string();
    let now = portcullis_db::now();
    let mut seeded = Seeded {
        tenants: Vec::new(),
        members: Vec::new(),
        projects: Vec::new(),
        sessions: Vec::new(),
        hash: hash.clone(),
    };
    let user_ids: Vec<String> = (0..size.users)
        .map(|_| uuid::Uuid::now_v7().to_string())
        .collect();
    portcullis_db::write_transaction(&mut conn, |conn: &mut DbConn| {
        for (i, id) in user_ids.iter().enumerate() {
            let email = format!("user{i}@bench.example");
            diesel::insert_into(users::table)
                .values((
                    users::id.eq(id),
                    users::email.eq(&email),
                    users::email_normalized.eq(&email),
                    users::password_hash.eq(&hash),
                    users::created_at.eq(now),
                    users::updated_at.eq(now),
                ))
                .execute(conn)?;
        }
        for t in 0..size.tenants {
            let tenant = uuid::Uuid::now_v7().to_string();
            diesel::insert_into(tenants::table)
                .values((
                    tenants::id.eq(&tenant),
                    tenants::name.eq(format!("Tenant {t}")),
                    tenants::slug.eq(format!("bench-{t}")),
                    tenants::created_at.eq(now),
                    tenants::updated_at.eq(now),
                ))
                .execute(conn)?;
            seeded.tenants.push(tenant);
            seeded.members.push(format!("user{t}@bench.example"));
        }
        for (i, user) in user_ids.iter().enumerate() {
            let tenant = &seeded.tenants[i % size.tenants];
            let role = if i < size.tenants { "owner" } else { "editor" };
            diesel::insert_into(memberships::table)
                .values((
                    memberships::tenant_id.eq(tenant),
                    memberships::user_id.eq(user),
                    memberships::created_at.eq(now),
                ))
                .execute(conn)?;
            diesel::insert_into(member_roles::table)
                .values((
                    member_roles::tenant_id.eq(tenant),
                    member_roles::user_id.eq(user),
                    member_roles::role_name.eq(role),
                ))
                .execute(conn)?;
        }
        Ok::<_, portcullis_db::DbError>(())
    })
    .map_err(fail("seed users and tenants"))?;
    let per_tenant = size.projects / size.tenants.max(1);
    for (t, tenant) in seeded.tenants.clone().iter().enumerate() {
        let owner = &user_ids[t];
        let ids = portcullis_db::write_transaction(&mut conn, |conn: &mut DbConn| {
            let mut ids = Vec::new();
            for p in 0..per_tenant {
                let id = uuid::Uuid::now_v7().to_string();
                let name = format!("Project {p} of tenant {t}");
                diesel::insert_into(projects::table)
                    .values((
                        projects::id.eq(&id),
                        projects::tenant_id.eq(tenant),
                        projects::name_lower.eq(name.to_lowercase()),
                        projects::name.eq(&name),
                        projects::created_by.eq(owner),
                        projects::created_at.eq(now),
                        projects::updated_at.eq(now),
                        projects::version.eq(1i64),
                    ))
                    .execute(conn)?;
                if ids.len() < 200 {
                    ids.push(id);
                }
            }
            Ok::<_, portcullis_db::DbError>(ids)
        })
        .map_err(fail("seed projects"))?;
        seeded.projects.push(ids);
    }
    for _ in 0..64 {
        let id = uuid::Uuid::now_v7().to_string();
        diesel::insert_into(sessions::table)
            .values((
                sessions::id.eq(&id),
                sessions::user_id.eq(&user_ids[0]),
                sessions::created_at.eq(now),
                sessions::last_used_at.eq(now),
                sessions::expires_at.eq(now + chrono::Duration::days(30)),
                sessions::absolute_expires_at.eq(now + chrono::Duration::days(90)),
            ))
            .execute(&mut conn)
            .map_err(fail("seed sessions"))?;
        seeded.sessions.push(id);
    }
    Ok(seeded)
}
