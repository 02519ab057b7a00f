use actix_web::web;
use portcullis_db::{DbConn, DbError, Pool};

use crate::ApiError;

/// Runs database work on actix's blocking thread pool with a pooled connection, so diesel never blocks
/// an async worker. A pool that cannot hand out a connection in time becomes 503, not a hang.
pub async fn with_conn<T, F>(pool: &Pool, work: F) -> Result<T, ApiError>
where
    F: FnOnce(&mut DbConn) -> Result<T, ApiError> + Send + 'static,
    T: Send + 'static,
{
    let pool = pool.clone();
    // The request's id goes along, so log lines written on the blocking thread carry it too.
    let request_id = crate::current_request_id();
    web::block(move || {
        let _id = crate::middleware::BlockingRequestId::set(request_id);
        let mut conn = pool.get().map_err(DbError::from)?;
        work(&mut conn)
    })
    .await
    .map_err(ApiError::internal)?
}
