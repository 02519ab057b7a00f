//! The authenticated caller, resolved once per request.

use std::future::Future;
use std::pin::Pin;

use actix_web::dev::Payload;
use actix_web::http::header;
use actix_web::{web, FromRequest, HttpMessage, HttpRequest};
use portcullis_db::{DbConn, Pool};
use portcullis_web::{with_conn, ApiError};

use crate::tokens::Claims;
use crate::Auth;

/// A signed-in user acting through an access token of a live session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    /// The user.
    pub user_id: String,
    /// The session the access token belongs to.
    pub session_id: String,
    /// How the user signed in (the token's `amr`).
    pub amr: Vec<String>,
}

impl Principal {
    /// This caller's session in `tenant`, as the standing statement takes it.
    pub fn caller<'a>(
        &'a self,
        tenant: &'a portcullis_db::TenantId,
    ) -> portcullis_db::memberships::SessionCaller<'a> {
        portcullis_db::memberships::SessionCaller {
            session_id: &self.session_id,
            user_id: &self.user_id,
            tenant,
        }
    }

    /// Whether the sign-in included a second factor.
    pub fn has_second_factor(&self) -> bool {
        self.amr.iter().any(|m| m == crate::sessions::OTP)
    }
}

fn missing() -> ApiError {
    ApiError::Unauthorized {
        code: "unauthorized",
        detail: "a bearer token is required",
        token_sent: false,
    }
}

fn invalid() -> ApiError {
    ApiError::Unauthorized {
        code: "invalid_token",
        detail: "the access token is invalid or expired",
        token_sent: true,
    }
}

impl Principal {
    /// Checks an access token's signature and claims (no I/O).
    pub fn verify(auth: &Auth, token: &str) -> Result<Claims, ApiError> {
        auth.keys.verify_access(token).map_err(|err| {
            log::debug!("{err}");
            invalid()
        })
    }

    /// Confirms that the token's session is still live and turns it into a principal. Revocation
    /// (logout, password change, account deletion) must bite on the next request, not at `exp`: one
    /// primary-key lookup per request does that and stays correct across several server instances,
    /// which an in-process cache would not without a shared bus. Callers that go on to query the
    /// database run this on the same connection, in the same blocking call.
    pub fn confirm(conn: &mut DbConn, claims: Claims) -> Result<Principal, ApiError> {
        if !portcullis_db::sessions::is_active(conn, &claims.sid, &claims.sub)? {
            return Err(invalid());
        }
        Ok(Principal::of_live_session(claims))
    }

    /// The principal of verified claims whose session the caller has just found live in the
    /// database (a query that checks it along with other things, such as a tenant standing).
    pub fn of_live_session(claims: Claims) -> Principal {
        Principal {
            user_id: claims.sub,
            session_id: claims.sid,
            amr: claims.amr,
        }
    }

    /// The 401 for a token whose session has ended.
    pub fn session_ended() -> ApiError {
        invalid()
    }
}

/// The token of an `Authorization: Bearer …` header, if there is one.
pub fn bearer(req: &HttpRequest) -> Option<String> {
    let value = req.headers().get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim().to_owned())
        .filter(|t| !t.is_empty())
}

impl Principal {
    /// Authenticates a request as a signed-in user: 401 without a valid access token of a live
    /// session, 403 for an API key (those act only on their tenant's routes).
    pub fn resolve(req: &HttpRequest) -> impl Future<Output = Result<Principal, ApiError>> + 'static {
        let token = bearer(req);
        let auth = req.app_data::<web::Data<Auth>>().cloned();
        let pool = req.app_data::<web::Data<Pool>>().cloned();
        async move {
            let (Some(auth), Some(pool)) = (auth, pool) else {
                return Err(ApiError::internal("identity state is not registered"));
            };
            let token = token.ok_or_else(missing)?;
            if crate::api_keys::is_api_key(&token) {
                return Err(ApiError::Forbidden {
                    code: "forbidden",
                    detail:
                        "API keys act only on their tenant's routes; this route needs a user's access token"
                            .into(),
                    required_scope: None,
                });
            }
            let claims = Principal::verify(&auth, &token)?;
            with_conn(&pool, move |conn| Principal::confirm(conn, claims)).await
        }
    }
}

/// The principal the route guard resolved, or (on a route without a user guard) resolved here.
impl FromRequest for Principal {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, ApiError>>>>;

    fn from_request(req: &HttpRequest, _payload: &mut Payload) -> Self::Future {
        if let Some(principal) = req.extensions().get::<Principal>().cloned() {
            return Box::pin(std::future::ready(Ok(principal)));
        }
        Box::pin(Principal::resolve(req))
    }
}
