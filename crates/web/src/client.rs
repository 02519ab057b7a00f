//! Who is on the other end of the connection, for sessions, security events and the audit log.

use std::future::{ready, Ready};

use actix_web::dev::Payload;
use actix_web::http::header;
use actix_web::{FromRequest, HttpRequest};

use crate::ApiError;

const USER_AGENT_MAX: usize = 512;

/// The client's IP address and user agent.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ClientInfo {
    /// The TCP peer's address.
    pub ip: Option<String>,
    /// The `User-Agent` header, cut to 512 characters.
    pub user_agent: Option<String>,
}

impl FromRequest for ClientInfo {
    type Error = ApiError;
    type Future = Ready<Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _payload: &mut Payload) -> Self::Future {
        let ip = req.peer_addr().map(|addr| addr.ip().to_string());
        let user_agent = req
            .headers()
            .get(header::USER_AGENT)
            .and_then(|v| v.to_str().ok())
            .filter(|v| !v.is_empty())
            .map(|v| v.chars().take(USER_AGENT_MAX).collect());
        ready(Ok(ClientInfo { ip, user_agent }))
    }
}
