//! What other services need to verify access tokens on their own: the JWKS and an OpenID-style
//! discovery document naming the issuer and the JWKS. Both are public, outside `/api/v1`, and may be
//! cached for five minutes: the rotation schedule publishes a key at least `SIGNING_KEY_PREPUBLISH_SECS`
//! (at least that long in production) before it signs.

use actix_web::http::header::CACHE_CONTROL;
use actix_web::{web, HttpResponse};
use serde_json::json;

use crate::Auth;

/// How long verifiers may cache the JWKS and the discovery document.
pub const CACHE_MAX_AGE_SECS: u64 = 300;

fn cacheable() -> (actix_web::http::header::HeaderName, String) {
    (CACHE_CONTROL, format!("public, max-age={CACHE_MAX_AGE_SECS}"))
}

/// `GET /.well-known/jwks.json`: the public keys that verify live tokens (none under HS256, whose
/// key is secret).
pub async fn jwks(auth: web::Data<Auth>) -> HttpResponse {
    let body = match auth.keys.ring() {
        Some(ring) => ring.current().jwks(chrono::Utc::now().timestamp()),
        None => json!({ "keys": [] }),
    };
    HttpResponse::Ok().insert_header(cacheable()).json(body)
}

/// The algorithms of the published keys (during a change of `JWT_ALG`, both), or HS256.
fn algorithms(auth: &Auth) -> Vec<&'static str> {
    match auth.keys.ring() {
        Some(ring) => {
            let published = ring.current().algorithms(chrono::Utc::now().timestamp());
            if published.is_empty() {
                vec![auth.keys.algorithm().name()]
            } else {
                published
            }
        }
        None => vec![auth.keys.algorithm().name()],
    }
}

/// `GET /.well-known/openid-configuration`: the issuer and where its keys are. Only what is true of
/// this server is listed, plus the two members OpenID discovery requires that libraries check for
/// (`subject_types_supported`, and the signing algorithm under `id_token_signing_alg_values_supported`:
/// no ID tokens are issued, access tokens use that algorithm). There is no authorization endpoint of
/// its own yet, so the document is for JWT libraries and gateways that find keys by issuer.
pub async fn openid_configuration(auth: web::Data<Auth>) -> HttpResponse {
    let issuer = &auth.config.issuer;
    HttpResponse::Ok().insert_header(cacheable()).json(json!({
        "issuer": issuer,
        "jwks_uri": format!("{issuer}/.well-known/jwks.json"),
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": algorithms(&auth),
    }))
}
