//! `portcullis-github-fake` speaks GitHub's wire format for the four endpoints Portcullis uses, so the
//! GitHub sign-in flow can be tested and tried without the network:
//!
//! - `GET /login/oauth/authorize`: signs in the fake's current user and redirects back with a code
//!   bound to the PKCE challenge and redirect URI;
//! - `POST /login/oauth/access_token`: form-encoded, checks the client secret, the single-use code and
//!   the PKCE verifier, answers JSON (or GitHub's `{"error": …}` with status 200, as GitHub does);
//! - `GET /user` and `GET /user/emails`: the user behind a bearer token.
//!
//! `POST /_fake/login {"login": "…"}` picks which of the configured users "is signed in at GitHub".

use std::collections::HashMap;
use std::net::TcpListener;
use std::sync::Mutex;

use actix_web::dev::{Server, ServerHandle};
use actix_web::{web, App, HttpRequest, HttpResponse, HttpServer};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use rand::RngCore;
use serde::{Deserialize, Serialize};
use serde_json::json;
use sha2::{Digest, Sha256};

/// A GitHub account of the fake.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct FakeUser {
    /// GitHub's numeric id.
    pub id: i64,
    /// The login (handle).
    pub login: String,
    /// The email addresses.
    pub emails: Vec<FakeEmail>,
}

/// One email of a fake user, as `/user/emails` reports it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct FakeEmail {
    /// The address.
    pub email: String,
    /// Whether it is the primary address.
    pub primary: bool,
    /// Whether GitHub verified it.
    pub verified: bool,
}

/// The users the binary serves when none are configured.
pub fn default_users() -> Vec<FakeUser> {
    let email = |email: &str, primary, verified| FakeEmail {
        email: email.into(),
        primary,
        verified,
    };
    vec![
        FakeUser {
            id: 583231,
            login: "octocat".into(),
            emails: vec![email("octocat@example.com", true, true)],
        },
        FakeUser {
            id: 9001,
            login: "unverified".into(),
            emails: vec![email("unverified@example.com", true, false)],
        },
    ]
}

struct Grant {
    login: String,
    challenge: String,
    redirect_uri: String,
}

struct State {
    client_id: String,
    client_secret: String,
    users: Vec<FakeUser>,
    current: Mutex<String>,
    codes: Mutex<HashMap<String, Grant>>,
    tokens: Mutex<HashMap<String, String>>,
}

fn random() -> String {
    let mut bytes = [0u8; 20];
    rand::rng().fill_bytes(&mut bytes);
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[derive(Deserialize)]
struct AuthorizeQuery {
    client_id: String,
    redirect_uri: String,
    state: String,
    code_challenge: Option<String>,
    code_challenge_method: Option<String>,
}

async fn authorize(state: web::Data<State>, query: web::Query<AuthorizeQuery>) -> HttpResponse {
    if query.client_id != state.client_id {
        return HttpResponse::NotFound().body("unknown client_id");
    }
    let (Some(challenge), Some("S256")) = (
        query.code_challenge.clone(),
        query.code_challenge_method.as_deref(),
    ) else {
        return HttpResponse::BadRequest().body("PKCE S256 challenge required");
    };
    let code = random();
    let login = state.current.lock().map(|c| c.clone()).unwrap_or_default();
    if let Ok(mut codes) = state.codes.lock() {
        codes.insert(
            code.clone(),
            Grant {
                login,
                challenge,
                redirect_uri: query.redirect_uri.clone(),
            },
        );
    }
    let separator = if query.redirect_uri.contains('?') {
        '&'
    } else {
        '?'
    };
    let location = format!(
        "{}{separator}code={code}&state={}",
        query.redirect_uri,
        urlencode(&query.state)
    );
    HttpResponse::Found()
        .insert_header(("Location", location))
        .finish()
}

fn urlencode(value: &str) -> String {
    value
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => (b as char).to_string(),
            other => format!("%{other:02X}"),
        })
        .collect()
}

#[derive(Deserialize)]
struct TokenForm {
    client_id: Option<String>,
    client_secret: Option<String>,
    code: String,
    redirect_uri: Option<String>,
    code_verifier: Option<String>,
}

fn token_error(error: &str) -> HttpResponse {
    // GitHub answers failed exchanges with status 200 and an error object.
    HttpResponse::Ok().json(json!({"error": error, "error_description": error}))
}

async fn access_token(state: web::Data<State>, req: HttpRequest, form: web::Form<TokenForm>) -> HttpResponse {
    // oauth2 clients may send the secret as HTTP Basic auth instead of in the form.
    let basic_ok = req
        .headers()
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Basic "))
        .and_then(|b| base64::engine::general_purpose::STANDARD.decode(b).ok())
        .and_then(|b| String::from_utf8(b).ok())
        .is_some_and(|pair| pair == format!("{}:{}", state.client_id, state.client_secret));
    let form_ok = form.client_id.as_deref() == Some(state.client_id.as_str())
        && form.client_secret.as_deref() == Some(state.client_secret.as_str());
    if !(basic_ok || form_ok) {
        return token_error("incorrect_client_credentials");
    }
    let grant = state
        .codes
        .lock()
        .ok()
        .and_then(|mut codes| codes.remove(&form.code));
    let Some(grant) = grant else {
        return token_error("bad_verification_code");
    };
    if form
        .redirect_uri
        .as_deref()
        .is_some_and(|r| r != grant.redirect_uri)
    {
        return token_error("redirect_uri_mismatch");
    }
    let verified = form
        .code_verifier
        .as_deref()
        .is_some_and(|v| URL_SAFE_NO_PAD.encode(Sha256::digest(v.as_bytes())) == grant.challenge);
    if !verified {
        return token_error("bad_verification_code");
    }
    let token = format!("gho_{}", random());
    if let Ok(mut tokens) = state.tokens.lock() {
        tokens.insert(token.clone(), grant.login);
    }
    HttpResponse::Ok()
        .json(json!({"access_token": token, "token_type": "bearer", "scope": "read:user,user:email"}))
}

fn user_of<'a>(state: &'a State, req: &HttpRequest) -> Option<&'a FakeUser> {
    let header = req.headers().get("authorization")?.to_str().ok()?;
    let token = header
        .strip_prefix("Bearer ")
        .or_else(|| header.strip_prefix("token "))?;
    let login = state.tokens.lock().ok()?.get(token)?.clone();
    state.users.iter().find(|u| u.login == login)
}

async fn user(state: web::Data<State>, req: HttpRequest) -> HttpResponse {
    match user_of(&state, &req) {
        Some(user) => HttpResponse::Ok().json(json!({"id": user.id, "login": user.login, "type": "User"})),
        None => HttpResponse::Unauthorized().json(json!({"message": "Bad credentials"})),
    }
}

async fn emails(state: web::Data<State>, req: HttpRequest) -> HttpResponse {
    match user_of(&state, &req) {
        Some(user) => HttpResponse::Ok().json(
            user.emails
                .iter()
                .map(|e| json!({"email": e.email, "primary": e.primary, "verified": e.verified, "visibility": null}))
                .collect::<Vec<_>>(),
        ),
        None => HttpResponse::Unauthorized().json(json!({"message": "Bad credentials"})),
    }
}

#[derive(Deserialize)]
struct SwitchUser {
    login: String,
}

async fn switch_user(state: web::Data<State>, body: web::Json<SwitchUser>) -> HttpResponse {
    if !state.users.iter().any(|u| u.login == body.login) {
        return HttpResponse::NotFound().finish();
    }
    if let Ok(mut current) = state.current.lock() {
        *current = body.login.clone();
    }
    HttpResponse::NoContent().finish()
}

/// A running fake.
pub struct FakeGithub {
    /// `http://127.0.0.1:PORT`.
    pub url: String,
    handle: ServerHandle,
}

impl FakeGithub {
    /// Builds the server on `listener`; the first user starts signed in.
    pub fn server(
        listener: TcpListener,
        client_id: &str,
        client_secret: &str,
        users: Vec<FakeUser>,
    ) -> std::io::Result<Server> {
        let current = users.first().map(|u| u.login.clone()).unwrap_or_default();
        let state = web::Data::new(State {
            client_id: client_id.into(),
            client_secret: client_secret.into(),
            users,
            current: Mutex::new(current),
            codes: Mutex::new(HashMap::new()),
            tokens: Mutex::new(HashMap::new()),
        });
        Ok(HttpServer::new(move || {
            App::new()
                .app_data(state.clone())
                .route("/login/oauth/authorize", web::get().to(authorize))
                .route("/login/oauth/access_token", web::post().to(access_token))
                .route("/user", web::get().to(user))
                .route("/user/emails", web::get().to(emails))
                .route("/_fake/login", web::post().to(switch_user))
        })
        .workers(1)
        .disable_signals()
        .listen(listener)?
        .run())
    }

    /// Starts a fake on a free loopback port inside the current actix runtime.
    pub fn start(client_id: &str, client_secret: &str, users: Vec<FakeUser>) -> std::io::Result<FakeGithub> {
        let listener = TcpListener::bind("127.0.0.1:0")?;
        let url = format!("http://{}", listener.local_addr()?);
        let server = FakeGithub::server(listener, client_id, client_secret, users)?;
        let handle = server.handle();
        actix_web::rt::spawn(server);
        Ok(FakeGithub { url, handle })
    }
}

impl Drop for FakeGithub {
    fn drop(&mut self) {
        drop(self.handle.stop(false));
    }
}
