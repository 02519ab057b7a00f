//! The application factory and server lifecycle.

use std::net::TcpListener;

use actix_cors::Cors;
use actix_web::dev::{Server, ServerHandle};
use actix_web::http::header;
use std::time::Duration;

use actix_session::config::{CookieContentSecurity, PersistentSession};
use actix_session::storage::CookieSessionStore;
use actix_session::SessionMiddleware;
use actix_web::cookie::time::Duration as CookieDuration;
use actix_web::cookie::{Key, SameSite};
use actix_web::middleware::from_fn;
use actix_web::{web, App, HttpServer};
use portcullis_auth::github::GithubConfig;
use portcullis_auth::routes::discovery;
use portcullis_auth::{Auth, AuthConfig};
use portcullis_db::DbError;
use portcullis_mail::{MailConfig, Mailer, WorkerHandle};
use portcullis_web::{
    finish_response, not_found, path_config, query_config, Quota, RateLimits, SecurityPolicy, SharedTier,
    TrustedProxies,
};

use crate::config::{AppEnv, CorsOrigins, Settings};
use crate::health;

/// Why the server could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartupError {
    /// The database refused the connection or a migration failed.
    #[error(transparent)]
    Database(#[from] DbError),
    /// The address could not be bound.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address asked for.
        addr: std::net::SocketAddr,
        /// The cause.
        source: std::io::Error,
    },
    /// A rate limit could not be configured.
    #[error("rate limit: {0}")]
    RateLimit(String),
    /// The mail sender or transport could not be set up.
    #[error("mail setup failed: {0}")]
    Mail(String),
    /// No signing key can sign (see the message), or the first rotation pass failed.
    #[error("signing keys: {0}")]
    Keys(String),
    /// The argon2 parameters or a secret were refused.
    #[error("identity setup failed: {0}")]
    Hashing(String),
    /// Anything else from the runtime.
    #[error("server error: {0}")]
    Io(#[from] std::io::Error),
}

/// A migrated, bound server that has not started serving yet.
pub struct Application {
    port: u16,
    server: Server,
    auth: web::Data<Auth>,
    mail_worker: WorkerHandle,
    /// The port and server of `/metrics`, when `METRICS_BIND_ADDR` is set.
    metrics_server: Option<(u16, Server)>,
}

impl Application {
    /// Migrates the database, builds the pool and binds `settings.bind_addr` (port 0 picks a free port).
    pub async fn build(settings: Settings) -> Result<Application, StartupError> {
        let migrate_settings = settings.clone();
        let applied = web::block(move || crate::migrate(&migrate_settings))
            .await
            .map_err(|err| StartupError::Io(std::io::Error::other(err.to_string())))??;
        if !applied.is_empty() {
            log::info!("applied migrations: {}", applied.join(", "));
        }
        let waits = std::sync::Arc::new(portcullis_db::PoolWaits::default());
        let pool = web::Data::new(portcullis_db::build_observed_pool(
            &settings.database_url,
            &settings.pool,
            waits.clone(),
        ));
        let listener = TcpListener::bind(settings.bind_addr).map_err(|source| StartupError::Bind {
            addr: settings.bind_addr,
            source,
        })?;
        let port = listener.local_addr()?.port();
        let mut settings = settings;
        if settings.public_url_is_default {
            // With BIND_ADDR port 0 the default PUBLIC_URL only becomes known now.
            let scheme = if settings.tls.is_some() { "https" } else { "http" };
            settings.public_url = format!("{scheme}://{}", listener.local_addr()?);
        }
        let mailer =
            Mailer::new(mail_config(&settings), settings.jwt_secret.expose()).map_err(StartupError::Mail)?;
        let auth =
            web::Data::new(Auth::new(auth_config(&settings), mailer.clone()).map_err(StartupError::Hashing)?);
        crate::keys::first_pass(&auth, pool.get_ref()).await?;
        crate::keys::spawn(auth.clone(), pool.get_ref().clone(), settings.signing.refresh);
        let mail_worker = mailer
            .start_worker(pool.get_ref().clone())
            .map_err(StartupError::Mail)?;
        let session_key = Key::try_from(settings.session_secret.expose())
            .map_err(|err| StartupError::Hashing(format!("SESSION_SECRET unusable: {err}")))?;
        // `Secure` and the `__Host-` prefix need https, which `PUBLIC_URL` says the browser uses.
        let secure_cookies = settings.public_url.starts_with("https://");
        // Read and checked with the rest of the configuration; nothing is loaded from disk here.
        let tls = settings.tls.as_ref().map(|tls| tls.server_config());
        let scheme = if tls.is_some() { "https" } else { "http" };
        log::info!(
            "listening on {scheme}://{} ({:?})",
            listener.local_addr()?,
            settings.app_env
        );
        let proxies = TrustedProxies(settings.trusted_proxies.clone());
        let limits = settings.rate_limit;
        let rate_limits = RateLimits::new(
            limits.enabled,
            &proxies,
            (limits.auth_per_min, limits.auth_burst),
            (limits.api_per_sec, limits.api_burst),
        )
        .ok_or_else(|| StartupError::RateLimit("quotas need a positive rate and burst".into()))?;
        let rate_limits = match &settings.redis {
            Some(redis) => rate_limits.with_shared(
                SharedTier::new(&redis.url, &redis.key_prefix).map_err(StartupError::RateLimit)?,
            ),
            None => rate_limits,
        };
        let shared_tier = rate_limits.shared().cloned().map(web::Data::new);
        crate::maintenance::spawn(
            pool.get_ref().clone(),
            rate_limits.clone(),
            settings.maintenance_interval,
        );
        let metrics = settings
            .metrics_bind_addr
            .map(|_| web::Data::new(crate::metrics::recorder()));
        let metrics_server = match (settings.metrics_bind_addr, &metrics) {
            (Some(addr), Some(metrics)) => {
                let listener =
                    TcpListener::bind(addr).map_err(|source| StartupError::Bind { addr, source })?;
                let port = listener.local_addr()?.port();
                log::info!("metrics on http://{}/metrics", listener.local_addr()?);
                let sources = crate::metrics::Sources {
                    metrics: metrics.clone(),
                    auth: auth.clone(),
                    pool: pool.get_ref().clone(),
                    waits,
                };
                Some((port, crate::metrics::serve(listener, sources)?))
            }
            _ => None,
        };
        let proxies = web::Data::new(proxies);
        let document = serde_json::to_vec(&crate::openapi::document())
            .map_err(|err| StartupError::Io(std::io::Error::other(err.to_string())))?;
        let document = web::Data::new(crate::docs::OpenApiJson(document));
        let app_auth = auth.clone();
        let server = HttpServer::new(move || {
            let api_quota = || rate_limits.for_routes(Quota::Api);
            let app = App::new();
            // Without METRICS_BIND_ADDR nothing is recorded (the middleware finds no recorder).
            let app = match &metrics {
                Some(metrics) => app.app_data(metrics.clone()),
                None => app,
            };
            // `/readyz` reports Redis when there is one.
            let app = match &shared_tier {
                Some(shared) => app.app_data(shared.clone()),
                None => app,
            };
            app.app_data(pool.clone())
                .app_data(auth.clone())
                .app_data(proxies.clone())
                .app_data(document.clone())
                .app_data(SecurityPolicy {
                    hsts: settings.app_env == AppEnv::Production,
                })
                .app_data(query_config())
                .app_data(path_config())
                // Order, innermost first: CORS answers preflights; the response middleware, outermost,
                // gives every answer (CORS refusals and 404s included) its id, headers and problem body
                // and writes the access log line with the final status.
                .wrap(browser_session(
                    session_key.clone(),
                    secure_cookies,
                    settings.session_max_age,
                ))
                .wrap(cors(&settings.cors_allowed_origins))
                .wrap(from_fn(finish_response))
                // `web::resource` (not `App::route`, which guards the whole resource by method) so that a
                // wrong method is 405 with `Allow`, not 404.
                .service(web::resource("/healthz").get(health::healthz).wrap(api_quota()))
                .service(web::resource("/readyz").get(health::readyz).wrap(api_quota()))
                .service(
                    web::resource("/openapi.json")
                        .get(crate::docs::openapi_json)
                        .wrap(api_quota()),
                )
                .service(web::resource("/docs").get(crate::docs::page).wrap(api_quota()))
                .service(
                    web::resource("/.well-known/jwks.json")
                        .get(discovery::jwks)
                        .wrap(api_quota()),
                )
                .service(
                    web::resource("/.well-known/openid-configuration")
                        .get(discovery::openid_configuration)
                        .wrap(api_quota()),
                )
                .service(
                    web::resource("/docs/{file}")
                        .get(crate::docs::asset)
                        .wrap(api_quota()),
                )
                .configure(crate::router::configure(&rate_limits))
                // The hosted pages and console, each on the quota its list gives it.
                .configure(|cfg| {
                    for (quota, page) in portcullis_pages::resources() {
                        cfg.service(page.wrap(rate_limits.for_routes(quota)));
                    }
                })
                .default_service(web::to(not_found))
        })
        // A client gets 5 s to send a request head and 1 s to close after the response, and an idle
        // keep-alive connection is dropped after 30 s, so slow or silent clients cannot hold workers.
        .client_request_timeout(Duration::from_secs(5))
        .client_disconnect_timeout(Duration::from_secs(1))
        .keep_alive(Duration::from_secs(30))
        // In-flight requests get this long to finish after SIGTERM/SIGINT.
        .shutdown_timeout(30);
        let server = match tls {
            Some(config) => server.listen_rustls_0_23(listener, config)?,
            None => server.listen(listener)?,
        }
        .run();
        Ok(Application {
            port,
            server,
            auth: app_auth,
            mail_worker,
            metrics_server,
        })
    }

    /// The bound port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The port `/metrics` is served on, when it is.
    pub fn metrics_port(&self) -> Option<u16> {
        self.metrics_server.as_ref().map(|(port, _)| *port)
    }

    /// The identity state the server runs with (tests read its password hasher's counters).
    pub fn auth(&self) -> web::Data<Auth> {
        self.auth.clone()
    }

    /// A handle to stop the server gracefully.
    pub fn handle(&self) -> ServerHandle {
        self.server.handle()
    }

    /// Serves until a shutdown signal, letting in-flight requests finish, then lets the mail worker
    /// finish the message it is sending (what it claimed but did not start is given back).
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        let metrics = self.metrics_server.map(|(_, server)| {
            let handle = server.handle();
            actix_web::rt::spawn(server);
            handle
        });
        let served = self.server.await;
        if let Some(metrics) = metrics {
            metrics.stop(true).await;
        }
        self.mail_worker.shutdown(MAIL_SHUTDOWN_GRACE).await;
        served
    }
}

/// How long a stopping server waits for the mail delivery in progress (an SMTP conversation is
/// bounded by lettre's timeout, which is longer; a message cut off is retried after its lease).
const MAIL_SHUTDOWN_GRACE: Duration = Duration::from_secs(10);

fn mail_config(settings: &Settings) -> MailConfig {
    let mail = &settings.mail;
    MailConfig {
        transport: mail.transport.clone(),
        from: mail.from.clone(),
        link_base: mail
            .link_base
            .clone()
            .unwrap_or_else(|| settings.public_url.clone()),
        max_attempts: mail.max_attempts,
        per_address_per_hour: mail.per_address_per_hour,
        retry_base: mail.retry_base,
        poll_interval: mail.poll_interval,
    }
}

fn auth_config(settings: &Settings) -> AuthConfig {
    AuthConfig {
        jwt_secret: settings.jwt_secret.expose().to_vec(),
        issuer: settings.public_url.clone(),
        access_ttl: settings.access_token_ttl,
        refresh_ttl: settings.refresh_token_ttl,
        session_max_age: settings.session_max_age,
        reuse_grace: settings.refresh_reuse_grace,
        hash_params: settings.argon2,
        hash_concurrency: settings.hash_concurrency,
        github: settings.github.as_ref().map(|g| GithubConfig {
            client_id: g.client_id.clone(),
            client_secret: String::from_utf8_lossy(g.client_secret.expose()).into_owned(),
            authorize_url: g.authorize_url.clone(),
            token_url: g.token_url.clone(),
            api_url: g.api_url.clone(),
        }),
        public_url: settings.public_url.clone(),
        redirect_allowlist: settings.redirect_allowlist.clone(),
        email: settings.mail.policy,
        signing: crate::keys::policy(settings),
    }
}

/// The one encrypted browser cookie: a GitHub flow's state, PKCE verifier and redirect URI between
/// the authorize redirect and the callback, and the hosted pages' sign-in (a session row's id) and
/// CSRF token. Only those routes write to it; other requests do not get a cookie, and no `/api` route
/// reads it as a credential. Its lifetime is the session's longest; the row decides sooner.
fn browser_session(key: Key, secure: bool, max_age: Duration) -> SessionMiddleware<CookieSessionStore> {
    let name = if secure { "__Host-portcullis" } else { "portcullis" };
    SessionMiddleware::builder(CookieSessionStore::default(), key)
        .cookie_name(name.to_owned())
        .cookie_secure(secure)
        .cookie_http_only(true)
        .cookie_path("/".to_owned())
        .cookie_same_site(SameSite::Lax)
        .cookie_content_security(CookieContentSecurity::Private)
        .session_lifecycle(PersistentSession::default().session_ttl(CookieDuration::seconds(
            i64::try_from(max_age.as_secs()).unwrap_or(i64::MAX),
        )))
        .build()
}

/// Exact-origin CORS. API calls authenticate with bearer tokens, never cookies, so credentials are
/// never allowed; a refused preflight is a 400 problem, and a simple request from a refused origin is
/// served without CORS headers, which the browser then refuses to expose.
fn cors(origins: &CorsOrigins) -> Cors {
    let base = Cors::default()
        .allowed_methods(["GET", "POST", "PUT", "PATCH", "DELETE"])
        .allowed_headers([
            header::AUTHORIZATION,
            header::CONTENT_TYPE,
            header::IF_MATCH,
            header::HeaderName::from_static("x-request-id"),
        ])
        .expose_headers([
            header::HeaderName::from_static("x-request-id"),
            header::ETAG,
            header::RETRY_AFTER,
            header::LOCATION,
        ])
        .max_age(3600);
    match origins {
        CorsOrigins::Any => base.allow_any_origin().send_wildcard(),
        CorsOrigins::List(list) => list.iter().fold(base, |cors, origin| cors.allowed_origin(origin)),
    }
}
