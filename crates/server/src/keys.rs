//! Signing keys at run time: the rotation pass at start-up (which makes the first key), the pass
//! every `SIGNING_KEY_REFRESH_SECS` on every instance (rotation when due, and a reload, so an instance
//! picks up a key another one made without a restart), and the `portcullis keys` commands.

use std::time::Duration;

use actix_web::web;
use portcullis_auth::signing::{self, KeyPolicy, Rotation, SigningAlg};
use portcullis_auth::Auth;
use portcullis_db::Pool;

use crate::app::StartupError;
use crate::Settings;

/// The rotation schedule of `settings`, unless tokens are HS256.
pub(crate) fn policy(settings: &Settings) -> Option<KeyPolicy> {
    let signing = settings.signing;
    (signing.alg != SigningAlg::Hs256).then_some(KeyPolicy {
        alg: signing.alg,
        rotation: signing.rotation,
        prepublish: signing.prepublish,
        refresh: signing.refresh,
        token_ttl: settings.access_token_ttl,
    })
}

/// The first pass, before the server listens: afterwards a key signs, or start-up fails and says why.
pub(crate) async fn first_pass(auth: &web::Data<Auth>, pool: &Pool) -> Result<(), StartupError> {
    if auth.keys().ring().is_none() {
        return Ok(());
    }
    let outcome = pass(auth.clone(), pool.clone()).await;
    outcome.map_err(StartupError::Keys)?;
    let ring = auth
        .keys()
        .ring()
        .ok_or_else(|| StartupError::Keys("no key ring".into()))?;
    let set = ring.current();
    let now = portcullis_db::now().and_utc().timestamp();
    if set.signing_key(now, ring.max_age()).is_none() {
        let reasons: Vec<String> = set.unusable().iter().map(ToString::to_string).collect();
        return Err(StartupError::Keys(format!(
            "no usable signing key ({}). If JWT_SECRET changed, restore it; or delete the rows of \
             signing_keys to start over with a new key (tokens signed so far stop verifying)",
            reasons.join("; ")
        )));
    }
    Ok(())
}

/// Runs a pass every `interval` on the current runtime.
pub(crate) fn spawn(auth: web::Data<Auth>, pool: Pool, interval: Duration) {
    if auth.keys().ring().is_none() {
        return;
    }
    actix_web::rt::spawn(async move {
        let mut ticks = actix_web::rt::time::interval(interval);
        // The first tick is immediate, and `first_pass` has just run.
        ticks.tick().await;
        loop {
            ticks.tick().await;
            // A failed pass keeps the keys loaded last: they still sign and verify. /readyz reports a
            // database outage; the next pass tries again.
            if let Err(err) = pass(auth.clone(), pool.clone()).await {
                log::warn!("signing key pass skipped: {err}");
            }
        }
    });
}

async fn pass(auth: web::Data<Auth>, pool: Pool) -> Result<(), String> {
    let changes = web::block(move || {
        let ring = auth.keys().ring().ok_or("no key ring")?;
        let mut conn = pool.get().map_err(|err| err.to_string())?;
        let changes = ring
            .sync(&mut conn, portcullis_db::now())
            .map_err(|err| err.to_string())?;
        for unusable in ring.current().unusable() {
            log::error!("{unusable}");
        }
        Ok::<_, String>(changes)
    })
    .await
    .map_err(|err| err.to_string())??;
    for (kid, from) in &changes.created {
        log::info!("signing key {kid} made; it signs from {from} UTC");
    }
    for kid in &changes.activated {
        log::info!("signing key {kid} now signs");
    }
    for kid in &changes.retired {
        log::info!("signing key {kid} retired; it stays in the JWKS until its tokens expire");
    }
    if changes.deleted > 0 {
        log::info!("{} retired signing key(s) left the JWKS", changes.deleted);
    }
    Ok(())
}

/// `portcullis keys rotate` and `portcullis keys list`: what to print, or why not.
pub fn command(settings: &Settings, action: &str) -> Result<String, String> {
    let policy = policy(settings).ok_or(
        "JWT_ALG=HS256 signs with JWT_SECRET: there are no signing keys (set JWT_ALG=ES256 or EdDSA)",
    )?;
    crate::migrate(settings).map_err(|err| err.to_string())?;
    let mut conn =
        portcullis_db::connect(&settings.database_url, &settings.pool).map_err(|err| err.to_string())?;
    let sealer = signing::sealer(settings.jwt_secret.expose());
    let now = portcullis_db::now();
    let (headline, keys) = match action {
        "rotate" => {
            let (rotation, keys) =
                signing::rotate(&mut conn, &sealer, &policy, now).map_err(|err| err.to_string())?;
            let headline = match rotation {
                Rotation::Scheduled(kid, at) => format!(
                    "new key {kid} is published now and signs from {at} UTC; the current key stays \
                     published until its last token expires"
                ),
                Rotation::AlreadyPending(kid, at) => {
                    format!("a rotation is already under way: key {kid} signs from {at} UTC")
                }
            };
            (headline, keys)
        }
        "list" => {
            // Read only: a rotation pass belongs to the servers, with the deployment's settings.
            let keys = portcullis_db::signing_keys::all(&mut conn).map_err(|err| err.to_string())?;
            (format!("{} signing key(s), oldest first", keys.len()), keys)
        }
        other => return Err(format!("unknown keys command {other:?}: use rotate or list")),
    };
    let mut out = format!(
        "{headline}\n{:<44}  {:<6}  {:<7}  {:<19}  {:<19}\n",
        "kid", "alg", "state", "signs from", "published until"
    );
    for key in keys {
        let until = key
            .retire_after
            .map_or_else(|| "-".to_owned(), |t| t.format("%Y-%m-%d %H:%M:%S").to_string());
        out.push_str(&format!(
            "{:<44}  {:<6}  {:<7}  {:<19}  {until}\n",
            key.kid,
            key.alg,
            key.state,
            key.activate_at.format("%Y-%m-%d %H:%M:%S"),
        ));
    }
    Ok(out)
}
