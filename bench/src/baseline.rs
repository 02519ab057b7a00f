//! The baseline server: the same actix settings as Portcullis, and the bare version of each thing a
//! scenario measures (a handler, a read by primary key, an insert, a read-update-insert transaction,
//! an argon2id verify with the production parameters on a bounded pool).

use std::sync::Arc;

use actix_web::{web, App, HttpResponse, HttpServer};
use argon2::password_hash::{PasswordHash, PasswordVerifier};
use argon2::Argon2;
use diesel::prelude::*;
use portcullis_db::schema::{projects, refresh_tokens, sessions};
use portcullis_db::{DatabaseUrl, Pool, PoolOptions, TenantId};
use serde_json::json;
use tokio::sync::Semaphore;

use crate::{fail, Result};

struct State {
    pool: Pool,
    hash: String,
    slots: Arc<Semaphore>,
}

fn arg(args: &[String], name: &str) -> Result<String> {
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .cloned()
        .ok_or(format!("missing {name}"))
}

pub fn main(args: &[String]) -> Result<()> {
    let bind = arg(args, "--bind")?;
    let url = DatabaseUrl::parse(&arg(args, "--database-url")?).map_err(fail("database url"))?;
    let hash = arg(args, "--hash")?;
    let concurrency: usize = arg(args, "--hash-concurrency")?
        .parse()
        .map_err(|_| "--hash-concurrency must be a number".to_owned())?;
    let pool = portcullis_db::build_pool(&url, &PoolOptions::default());
    let state = web::Data::new(State {
        pool,
        hash,
        slots: Arc::new(Semaphore::new(concurrency)),
    });
    actix_web::rt::System::new()
        .block_on(async move {
            HttpServer::new(move || {
                App::new()
                    .app_data(state.clone())
                    .route("/bare", web::get().to(bare))
                    .route("/read/{tid}/{pid}", web::get().to(read))
                    .route("/insert/{tid}", web::post().to(insert))
                    .route("/rui/{sid}", web::post().to(read_update_insert))
                    .route("/argon2", web::post().to(verify))
            })
            .bind(&bind)?
            .run()
            .await
        })
        .map_err(fail("baseline server"))
}

async fn bare() -> HttpResponse {
    HttpResponse::Ok().json(json!({"status": "ok"}))
}

fn answer<T: serde::Serialize>(
    result: std::result::Result<
        std::result::Result<T, portcullis_db::DbError>,
        actix_web::error::BlockingError,
    >,
) -> HttpResponse {
    match result {
        Ok(Ok(value)) => HttpResponse::Ok().json(value),
        Ok(Err(portcullis_db::DbError::NotFound)) => HttpResponse::NotFound().finish(),
        _ => HttpResponse::ServiceUnavailable().finish(),
    }
}

async fn read(state: web::Data<State>, path: web::Path<(String, String)>) -> HttpResponse {
    let (tid, pid) = path.into_inner();
    let pool = state.pool.clone();
    answer(
        web::block(move || {
            let mut conn = pool.get()?;
            let project = portcullis_db::projects::find(&mut conn, &TenantId::new(tid), &pid)?;
            Ok(json!({"id": project.id, "name": project.name, "version": project.version}))
        })
        .await,
    )
}

async fn insert(state: web::Data<State>, path: web::Path<String>) -> HttpResponse {
    let tid = path.into_inner();
    let pool = state.pool.clone();
    answer(
        web::block(move || {
            let mut conn = pool.get()?;
            let now = portcullis_db::now();
            let id = uuid::Uuid::now_v7().to_string();
            let insert = |conn: &mut portcullis_db::DbConn| {
                // On the concrete connection, as Portcullis runs its per-request statements.
                portcullis_db::on_backend!(conn, |c| diesel::insert_into(projects::table)
                    .values((
                        projects::id.eq(&id),
                        projects::tenant_id.eq(&tid),
                        projects::name.eq("bare"),
                        projects::name_lower.eq("bare"),
                        projects::created_by.eq("bench"),
                        projects::created_at.eq(now),
                        projects::updated_at.eq(now),
                        projects::version.eq(1i64),
                    ))
                    .execute(c))
                .map_err(portcullis_db::DbError::from)
            };
            if let portcullis_db::DbConn::Postgres(_) = &*conn {
                // One autocommit statement: the least a PostgreSQL insert takes.
                insert(&mut conn)?;
            } else {
                // SQLite: through the same in-process writer queue and writer connection as
                // Portcullis's writes (see `portcullis_db::write_transaction`), so the baseline does
                // not sleep in SQLite's busy handler nor read its pages again after another
                // connection wrote.
                portcullis_db::write_transaction(&mut conn, insert)?;
            }
            Ok(json!({ "id": id }))
        })
        .await,
    )
}

async fn read_update_insert(state: web::Data<State>, path: web::Path<String>) -> HttpResponse {
    let sid = path.into_inner();
    let pool = state.pool.clone();
    answer(
        web::block(move || {
            let mut conn = pool.get()?;
            portcullis_db::write_transaction(&mut conn, |conn| {
                let now = portcullis_db::now();
                // On the concrete connection, as Portcullis runs its per-request statements.
                portcullis_db::on_backend!(conn, |c| {
                    let expires: chrono::NaiveDateTime = sessions::table
                        .find(&sid)
                        .select(sessions::expires_at)
                        .get_result(c)?;
                    diesel::update(sessions::table.find(&sid))
                        .set(sessions::last_used_at.eq(now))
                        .execute(c)?;
                    diesel::insert_into(refresh_tokens::table)
                        .values((
                            refresh_tokens::token_hash.eq(uuid::Uuid::now_v7().to_string()),
                            refresh_tokens::session_id.eq(&sid),
                            refresh_tokens::created_at.eq(now),
                            refresh_tokens::expires_at.eq(expires),
                        ))
                        .execute(c)?;
                });
                Ok::<_, portcullis_db::DbError>(json!({"ok": true}))
            })
        })
        .await,
    )
}

async fn verify(state: web::Data<State>) -> HttpResponse {
    let Ok(slot) = state.slots.clone().acquire_owned().await else {
        return HttpResponse::ServiceUnavailable().finish();
    };
    let hash = state.hash.clone();
    let ok = tokio::task::spawn_blocking(move || {
        let _slot = slot;
        PasswordHash::new(&hash)
            .map(|parsed| {
                Argon2::default()
                    .verify_password(b"correct horse battery staple", &parsed)
                    .is_ok()
            })
            .unwrap_or(false)
    })
    .await
    .unwrap_or(false);
    if ok {
        HttpResponse::Ok().json(json!({"ok": true}))
    } else {
        HttpResponse::Unauthorized().finish()
    }
}
