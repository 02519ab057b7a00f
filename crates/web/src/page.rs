//! Keyset pagination: `?limit=` (1–100, default 20) and an opaque `?cursor=`.

use serde::Serialize;

use crate::ApiError;

/// Default and largest page sizes.
pub const DEFAULT_LIMIT: i64 = 20;
const MAX_LIMIT: i64 = 100;

/// A validated page request: how many, and the sort key to continue after.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PageRequest {
    /// 1–100.
    pub limit: i64,
    /// The key of the last item of the previous page.
    pub after: Option<String>,
}

impl PageRequest {
    /// Validates `limit` and decodes `cursor`; either being wrong is a 422 naming the parameter.
    /// Keys are UUIDs (time-ordered v7 ids), so a decoded cursor that is not one is refused too.
    pub fn parse(limit: Option<i64>, cursor: Option<&str>) -> Result<PageRequest, ApiError> {
        let limit = limit.unwrap_or(DEFAULT_LIMIT);
        if !(1..=MAX_LIMIT).contains(&limit) {
            return Err(ApiError::invalid_field(
                "limit",
                "out_of_range",
                "must be from 1 to 100",
            ));
        }
        let after = match cursor {
            None => None,
            Some(cursor) => Some(decode_cursor(cursor).ok_or_else(|| {
                ApiError::invalid_field(
                    "cursor",
                    "invalid_cursor",
                    "is not a cursor returned by this list",
                )
            })?),
        };
        Ok(PageRequest { limit, after })
    }

    /// How many rows to fetch: one more than the page, to know whether another page follows.
    pub fn fetch(&self) -> i64 {
        self.limit + 1
    }
}

/// Cursors are the sort key (a UUID) as 32 hex digits: any such string is a valid cursor, which the
/// OpenAPI pattern can state exactly.
fn decode_cursor(cursor: &str) -> Option<String> {
    if cursor.len() != 32 || !cursor.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    uuid::Uuid::try_parse(cursor)
        .ok()
        .map(|id| id.hyphenated().to_string())
}

fn encode_cursor(key: &str) -> String {
    uuid::Uuid::try_parse(key)
        .map(|id| id.simple().to_string())
        .unwrap_or_default()
}

/// The pattern of a cursor, for the OpenAPI document.
pub const CURSOR_PATTERN: &str = "^[0-9a-fA-F]{32}$";

/// A page of a list.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Page<T> {
    /// The items, newest first unless the list says otherwise.
    pub items: Vec<T>,
    /// Pass as `cursor` for the next page; `null` on the last one.
    pub next_cursor: Option<String>,
}

impl<T> Page<T> {
    /// Builds a page from up to `limit + 1` rows, `key` giving each row's sort key.
    pub fn from_rows<R>(
        request: &PageRequest,
        mut rows: Vec<R>,
        key: impl Fn(&R) -> &str,
        map: impl Fn(R) -> T,
    ) -> Self {
        let more = rows.len() as i64 > request.limit;
        rows.truncate(usize::try_from(request.limit).unwrap_or(0));
        let next_cursor = if more {
            rows.last().map(|row| encode_cursor(key(row)))
        } else {
            None
        };
        Page {
            items: rows.into_iter().map(map).collect(),
            next_cursor,
        }
    }
}

impl PageRequest {
    /// Answers the rows loaded for this request (at most [`fetch`](Self::fetch) of them) as a page.
    pub fn respond<R, T: Serialize>(
        &self,
        rows: Vec<R>,
        key: fn(&R) -> &str,
        map: fn(R) -> T,
    ) -> actix_web::HttpResponse {
        actix_web::HttpResponse::Ok().json(Page::from_rows(self, rows, key, map))
    }
}

/// Loads one page with `load(conn, after, how_many)` on a pooled connection and answers it as JSON:
/// the shape every list route shares.
pub async fn respond_page<R, T, L>(
    pool: &portcullis_db::Pool,
    request: PageRequest,
    load: L,
    key: fn(&R) -> &str,
    map: fn(R) -> T,
) -> Result<actix_web::HttpResponse, ApiError>
where
    R: Send + 'static,
    T: Serialize,
    L: FnOnce(&mut portcullis_db::DbConn, Option<&str>, i64) -> Result<Vec<R>, portcullis_db::DbError>
        + Send
        + 'static,
{
    let (after, fetch) = (request.after.clone(), request.fetch());
    let rows = crate::with_conn(pool, move |conn| Ok(load(conn, after.as_deref(), fetch)?)).await?;
    Ok(actix_web::HttpResponse::Ok().json(Page::from_rows(&request, rows, key, map)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_outside_one_to_a_hundred_are_refused() {
        assert_eq!(PageRequest::parse(None, None).unwrap().limit, 20);
        assert_eq!(PageRequest::parse(Some(100), None).unwrap().limit, 100);
        for bad in [0, -1, 101] {
            assert!(matches!(
                PageRequest::parse(Some(bad), None),
                Err(ApiError::Validation(_))
            ));
        }
    }

    #[test]
    fn cursors_round_trip_and_garbage_is_refused() {
        let id = uuid::Uuid::now_v7().to_string();
        let rows = vec![id.clone(), "x".into()];
        let request = PageRequest::parse(Some(1), None).unwrap();
        let page = Page::from_rows(&request, rows, |r| r.as_str(), |r| r);
        let cursor = page.next_cursor.unwrap();
        assert_eq!(PageRequest::parse(None, Some(&cursor)).unwrap().after, Some(id));
        for bad in [
            "",
            "!!!",
            "bm90LWEtdXVpZA",
            "' OR 1=1 --",
            "0123456789abcdef0123456789abcdeg",
        ] {
            assert!(PageRequest::parse(None, Some(bad)).is_err(), "{bad}");
        }
    }
}
