//! Asymmetric access tokens: verifying from the JWKS alone, key rotation with pre-publication and
//! overlap, one rotation across instances, and the forgeries a verifier must refuse.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use jsonwebtoken::jwk::Jwk;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use portcullis_auth::signing::{self, KeyPolicy, SigningAlg};
use portcullis_tests::{
    base_vars, count_rows, execute_sql, spawn_app_with, JsonExt, RequestHelper, TestApp, JWT_SECRET, PASSWORD,
};
use serde_json::{json, Value};

async fn jwks(app: &TestApp) -> Value {
    let response = app.anonymous().get("/.well-known/jwks.json").await;
    let body = response.expect(200);
    assert_eq!(response.header("cache-control"), "public, max-age=300");
    body
}

fn kids(jwks: &Value) -> Vec<String> {
    jwks["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["kid"].as_str().unwrap().to_owned())
        .collect()
}

fn kid_of(token: &str) -> String {
    jsonwebtoken::decode_header(token).unwrap().kid.expect("a kid")
}

fn exp_of(token: &str) -> i64 {
    let payload = token.split('.').nth(1).unwrap();
    let claims: Value = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap();
    claims["exp"].as_i64().unwrap()
}

/// What another service does: picks the JWK by `kid` and verifies with a standard JWT library,
/// pinning the algorithm to the key's, the issuer and the audience.
fn verify_with_jwks(jwks: &Value, token: &str, issuer: &str) -> Result<Value, String> {
    let header = jsonwebtoken::decode_header(token).map_err(|e| e.to_string())?;
    let kid = header.kid.ok_or("no kid")?;
    let jwk = jwks["keys"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["kid"] == kid.as_str())
        .ok_or_else(|| format!("kid {kid} is not in the JWKS"))?;
    let jwk: Jwk = serde_json::from_value(jwk.clone()).map_err(|e| e.to_string())?;
    let alg = match jwk.common.key_algorithm.map(|a| a.to_string()).as_deref() {
        Some("ES256") => Algorithm::ES256,
        Some("EdDSA") => Algorithm::EdDSA,
        other => return Err(format!("unexpected alg {other:?}")),
    };
    let mut validation = Validation::new(alg);
    validation.set_issuer(&[issuer]);
    validation.set_audience(&["portcullis"]);
    let key = DecodingKey::from_jwk(&jwk).map_err(|e| e.to_string())?;
    jsonwebtoken::decode::<Value>(token, &key, &validation)
        .map(|data| data.claims)
        .map_err(|e| e.to_string())
}

#[actix_web::test]
async fn tokens_verify_with_only_the_published_keys() {
    for (alg, kty, crv) in [("ES256", "EC", "P-256"), ("EdDSA", "OKP", "Ed25519")] {
        let app = spawn_app_with(|vars| {
            if alg != "ES256" {
                vars.insert("JWT_ALG".into(), alg.into());
            }
        })
        .await;
        let discovery = app
            .anonymous()
            .get("/.well-known/openid-configuration")
            .await
            .expect(200);
        assert_eq!(discovery["issuer"], app.address.as_str());
        let jwks_uri = format!("{}/.well-known/jwks.json", app.address);
        assert_eq!(discovery["jwks_uri"], jwks_uri.as_str());
        assert_eq!(discovery["id_token_signing_alg_values_supported"], json!([alg]));

        let user = app.user("verify@example.com").await;
        let token = user.access();
        let header = jsonwebtoken::decode_header(token).unwrap();
        assert_eq!(format!("{:?}", header.alg), alg);
        assert_eq!(header.typ.as_deref(), Some("at+jwt"));

        let set = jwks(&app).await;
        let keys = set["keys"].as_array().unwrap();
        assert_eq!(keys.len(), 1, "{set}");
        let key = &keys[0];
        assert_eq!(
            (key["kty"].as_str(), key["crv"].as_str()),
            (Some(kty), Some(crv)),
            "{key}"
        );
        assert_eq!(
            (key["alg"].as_str(), key["use"].as_str()),
            (Some(alg), Some("sig")),
            "{key}"
        );
        assert!(key.get("d").is_none(), "a private key part is published: {key}");
        assert_eq!(key["kid"], kid_of(token).as_str());

        let claims = verify_with_jwks(&set, token, discovery["issuer"].as_str().unwrap()).unwrap();
        assert_eq!(claims["sub"], user.id());
        assert_eq!(claims["sid"], user.session_id());
        // The same check refuses a token with one changed claim.
        let parts: Vec<&str> = token.split('.').collect();
        let mut payload: Value = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts[1]).unwrap()).unwrap();
        payload["sub"] = "someone-else".into();
        let altered = format!(
            "{}.{}.{}",
            parts[0],
            URL_SAFE_NO_PAD.encode(payload.to_string()),
            parts[2]
        );
        assert!(verify_with_jwks(&set, &altered, &app.address).is_err());
        app.bearer(&altered).get("/api/v1/me").await.expect(401);
        user.get("/api/v1/me").await.expect(200);
    }
}

#[actix_web::test]
async fn hs256_stays_available_and_publishes_no_key() {
    let app = spawn_app_with(|vars| {
        vars.insert("JWT_ALG".into(), "HS256".into());
    })
    .await;
    let user = app.user("hmac@example.com").await;
    let header = jsonwebtoken::decode_header(user.access()).unwrap();
    assert_eq!(header.alg, Algorithm::HS256);
    user.get("/api/v1/me").await.expect(200);
    assert_eq!(jwks(&app).await, json!({"keys": []}));
    assert_eq!(count_rows(&app, "signing_keys", "1 = 1"), 0);
}

/// Fast rotation for tests: a new key is published 3 s before it signs, instances reload every
/// second, access tokens live 4 s.
fn fast_rotation(vars: &mut HashMap<String, String>) {
    vars.insert("SIGNING_KEY_PREPUBLISH_SECS".into(), "3".into());
    vars.insert("SIGNING_KEY_REFRESH_SECS".into(), "1".into());
    vars.insert("ACCESS_TOKEN_TTL_SECS".into(), "4".into());
}

fn keys_command(app: &TestApp, customize: fn(&mut HashMap<String, String>), action: &str) -> String {
    try_keys_command(app, customize, action).unwrap()
}

fn try_keys_command(
    app: &TestApp,
    customize: fn(&mut HashMap<String, String>),
    action: &str,
) -> Result<String, String> {
    let mut vars = base_vars(&app.db);
    customize(&mut vars);
    let settings = portcullis_server::Settings::from_vars(&vars).unwrap();
    portcullis_server::keys::command(&settings, action)
}

#[actix_web::test]
async fn a_rotation_publishes_first_switches_later_and_keeps_old_tokens_valid_until_they_expire() {
    let app = spawn_app_with(fast_rotation).await;
    let user = app.user("rotate@example.com").await;
    let first_kid = kid_of(user.access());
    assert_eq!(kids(&jwks(&app).await), vec![first_kid.clone()]);

    let out = keys_command(&app, fast_rotation, "rotate");
    let new_kid = out
        .split_whitespace()
        .nth(2)
        .filter(|_| out.starts_with("new key "))
        .unwrap_or_else(|| panic!("{out}"))
        .to_owned();
    assert_ne!(new_kid, first_kid);
    // A second rotate while one is under way changes nothing.
    let again = keys_command(&app, fast_rotation, "rotate");
    assert!(again.starts_with("a rotation is already under way"), "{again}");
    assert!(again.contains(&new_kid), "{again}");

    // Refresh until a token carries the new kid; every JWKS fetched on the way is recorded first.
    let mut refresh = user.refresh().to_owned();
    let mut published_since: Option<Instant> = None;
    let mut last_old_token = user.access().to_owned();
    let deadline = Instant::now() + Duration::from_secs(20);
    let switched = loop {
        assert!(Instant::now() < deadline, "the new key never signed");
        if published_since.is_none() && kids(&jwks(&app).await).contains(&new_kid) {
            published_since = Some(Instant::now());
        }
        let tokens = app
            .anonymous()
            .post("/api/v1/auth/refresh", &json!({"refresh_token": refresh}))
            .await
            .expect(200);
        refresh = tokens.str_at("refresh_token").to_owned();
        let access = tokens.str_at("access_token").to_owned();
        if kid_of(&access) == new_kid {
            break access;
        }
        assert_eq!(kid_of(&access), first_kid);
        last_old_token = access;
        actix_web::rt::time::sleep(Duration::from_millis(200)).await;
    };
    let published_since =
        published_since.expect("a token was signed with a key the JWKS did not publish yet");
    // Published 3 s before signing; this instance may load the new key up to 1 s (its reload) late,
    // and this loop looks every 200 ms or so.
    assert!(
        published_since.elapsed() >= Duration::from_millis(1500),
        "published only {:?} before it signed",
        published_since.elapsed()
    );

    // Both keys are published; tokens of either verify, at the server and from the JWKS.
    let set = jwks(&app).await;
    assert_eq!(kids(&set), vec![first_kid.clone(), new_kid.clone()]);
    for token in [&last_old_token, &switched] {
        verify_with_jwks(&set, token, &app.address).unwrap();
        app.bearer(token).get("/api/v1/me").await.expect(200);
    }
    // The server's next pass (within a second) records the switch; `keys list` only reads.
    let state_of = |listed: &str, kid: &str| {
        listed
            .lines()
            .find(|line| line.starts_with(kid))
            .and_then(|line| line.split_whitespace().nth(2))
            .map(str::to_owned)
    };
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let listed = keys_command(&app, fast_rotation, "list");
        let states = (state_of(&listed, &first_kid), state_of(&listed, &new_kid));
        if states == (Some("retired".into()), Some("active".into())) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the switch was never recorded: {listed}"
        );
        actix_web::rt::time::sleep(Duration::from_millis(200)).await;
    }

    // The replaced key leaves the JWKS, but not before the last token it signed has expired.
    let last_exp = exp_of(&last_old_token);
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        assert!(Instant::now() < deadline, "the retired key was never unpublished");
        let set = jwks(&app).await;
        if !kids(&set).contains(&first_kid) {
            assert!(
                chrono::Utc::now().timestamp() >= last_exp,
                "unpublished at {} before its last token expired at {last_exp}",
                chrono::Utc::now().timestamp()
            );
            assert_eq!(kids(&set), vec![new_kid.clone()]);
            break;
        }
        actix_web::rt::time::sleep(Duration::from_millis(250)).await;
    }
    // The next rotation pass (within a second) deletes its row.
    let deadline = Instant::now() + Duration::from_secs(5);
    while count_rows(&app, "signing_keys", "1 = 1") != 1 {
        assert!(
            Instant::now() < deadline,
            "the retired key's row was never deleted"
        );
        actix_web::rt::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Rotation every ~6 s, published 3 s ahead, instances reloading every second.
fn scheduled_rotation(vars: &mut HashMap<String, String>) {
    fast_rotation(vars);
    vars.insert("SIGNING_KEY_ROTATION_DAYS".into(), "0.00007".into());
}

async fn sign_in_kid(app: &TestApp) -> (String, String) {
    let tokens = app
        .anonymous()
        .post(
            "/api/v1/auth/login",
            &json!({"email": "twice@example.com", "password": PASSWORD}),
        )
        .await
        .expect(200);
    let access = tokens.str_at("access_token").to_owned();
    (kid_of(&access), access)
}

#[actix_web::test]
async fn two_instances_rotate_once_on_schedule_and_both_sign_with_the_new_key() {
    let first = spawn_app_with(scheduled_rotation).await;
    let second = first.second_instance(scheduled_rotation).await;
    first.user("twice@example.com").await;
    let (initial, _) = sign_in_kid(&first).await;
    assert_eq!(sign_in_kid(&second).await.0, initial, "one first key for both");
    let deadline = Instant::now() + Duration::from_secs(20);
    let (kid_a, token_a, kid_b, token_b) = loop {
        assert!(Instant::now() < deadline, "no rotation on schedule");
        let (kid_a, token_a) = sign_in_kid(&first).await;
        let (kid_b, token_b) = sign_in_kid(&second).await;
        if kid_a != initial && kid_b != initial {
            break (kid_a, token_a, kid_b, token_b);
        }
        actix_web::rt::time::sleep(Duration::from_millis(250)).await;
    };
    assert_eq!(kid_a, kid_b, "both instances sign with the same new key");
    // Each instance accepts the other's tokens.
    second.bearer(&token_a).get("/api/v1/me").await.expect(200);
    first.bearer(&token_b).get("/api/v1/me").await.expect(200);
    // One rotation: exactly one key was made to succeed the first (a third may be pending by now).
    let listed = keys_command(&first, scheduled_rotation, "list");
    let made_by_then = listed
        .lines()
        .skip(2)
        .filter(|line| !line.contains(" next "))
        .count();
    assert_eq!(made_by_then, 2, "{listed}");
    assert!(listed.matches(" next ").count() <= 1, "{listed}");
}

#[actix_web::test]
async fn concurrent_rotation_passes_make_exactly_one_key() {
    let app = spawn_app_with(|_| {}).await;
    let url = portcullis_db::DatabaseUrl::parse(app.db.url()).unwrap();
    let policy = KeyPolicy {
        alg: SigningAlg::Es256,
        rotation: Duration::from_secs(60),
        prepublish: Duration::from_secs(10),
        refresh: Duration::from_secs(1),
        token_ttl: Duration::from_secs(60),
    };
    // Two minutes from now the first key's rotation is due: every pass wants to make the next key.
    let later = portcullis_db::now() + chrono::Duration::seconds(120);
    let passes = 8;
    let barrier = std::sync::Arc::new(std::sync::Barrier::new(passes));
    let threads: Vec<_> = (0..passes)
        .map(|_| {
            let url = url.clone();
            let barrier = barrier.clone();
            std::thread::spawn(move || {
                let mut conn = portcullis_db::connect(&url, &portcullis_db::PoolOptions::default()).unwrap();
                let sealer = signing::sealer(JWT_SECRET.as_bytes());
                barrier.wait();
                signing::maintain(&mut conn, &sealer, &policy, later).unwrap().1
            })
        })
        .collect();
    let made: usize = threads.into_iter().map(|t| t.join().unwrap().created.len()).sum();
    assert_eq!(made, 1, "each due rotation makes one key");
    assert_eq!(count_rows(&app, "signing_keys", "state = 'next'"), 1);
    assert_eq!(count_rows(&app, "signing_keys", "state = 'active'"), 1);
}

#[actix_web::test]
async fn forged_tokens_are_refused() {
    let app = spawn_app_with(|_| {}).await;
    let user = app.user("target@example.com").await;
    let genuine = user.access().to_owned();
    let kid = kid_of(&genuine);
    let set = jwks(&app).await;
    let jwk = set["keys"][0].clone();
    let claims: Value = serde_json::from_slice(
        &URL_SAFE_NO_PAD
            .decode(genuine.split('.').nth(1).unwrap())
            .unwrap(),
    )
    .unwrap();
    let header = |alg: Algorithm, kid: Option<&str>| {
        let mut header = Header::new(alg);
        header.typ = Some("at+jwt".into());
        header.kid = kid.map(str::to_owned);
        header
    };
    let sign = |header: Header, key: &EncodingKey| jsonwebtoken::encode(&header, &claims, key).unwrap();
    let own_ec = EncodingKey::from_ec_der(
        &rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256)
            .unwrap()
            .serialize_der(),
    );
    let own_ed = EncodingKey::from_ed_der(
        &rcgen::KeyPair::generate_for(&rcgen::PKCS_ED25519)
            .unwrap()
            .serialize_der(),
    );
    let x = URL_SAFE_NO_PAD.decode(jwk["x"].as_str().unwrap()).unwrap();
    let y = URL_SAFE_NO_PAD.decode(jwk["y"].as_str().unwrap()).unwrap();
    let point = [&[4u8][..], &x, &y].concat();
    let hmac_with = |secret: &[u8], kid: Option<&str>| {
        sign(header(Algorithm::HS256, kid), &EncodingKey::from_secret(secret))
    };
    let unsigned = |alg: &str| {
        format!(
            "{}.{}.",
            URL_SAFE_NO_PAD.encode(json!({"alg": alg, "typ": "at+jwt", "kid": kid}).to_string()),
            URL_SAFE_NO_PAD.encode(claims.to_string())
        )
    };
    let forgeries = [
        (
            "another key under an unknown kid",
            sign(header(Algorithm::ES256, Some("not-a-key")), &own_ec),
        ),
        (
            "another key under the real kid",
            sign(header(Algorithm::ES256, Some(&kid)), &own_ec),
        ),
        (
            "another key without a kid",
            sign(header(Algorithm::ES256, None), &own_ec),
        ),
        (
            "EdDSA under the ES256 key's kid",
            sign(header(Algorithm::EdDSA, Some(&kid)), &own_ed),
        ),
        (
            "HS256 with JWT_SECRET",
            hmac_with(JWT_SECRET.as_bytes(), Some(&kid)),
        ),
        (
            "HS256 with JWT_SECRET, no kid",
            hmac_with(JWT_SECRET.as_bytes(), None),
        ),
        (
            "HS256 with the public point as secret",
            hmac_with(&point, Some(&kid)),
        ),
        (
            "HS256 with the JWK as secret",
            hmac_with(jwk.to_string().as_bytes(), Some(&kid)),
        ),
        (
            "HS256 with x as secret",
            hmac_with(jwk["x"].as_str().unwrap().as_bytes(), Some(&kid)),
        ),
        ("alg none", unsigned("none")),
        ("alg None", unsigned("None")),
        ("ES256 with an empty signature", unsigned("ES256")),
        (
            "the genuine signature on another header",
            format!(
                "{}.{}",
                URL_SAFE_NO_PAD
                    .encode(json!({"alg": "ES256", "typ": "at+jwt", "kid": kid, "cty": "other"}).to_string()),
                genuine.split_once('.').unwrap().1
            ),
        ),
    ];
    for (name, token) in &forgeries {
        let response = app.bearer(token).get("/api/v1/me").await;
        assert_eq!(response.status(), 401, "{name} was accepted: {response}");
        assert!(
            verify_with_jwks(&set, token, &app.address).is_err(),
            "{name} verifies from the JWKS"
        );
    }
    // The positive control: the genuine token, before and after the forgeries.
    app.bearer(&genuine).get("/api/v1/me").await.expect(200);
}

#[actix_web::test]
async fn tokens_of_keys_that_are_gone_stop_working_at_once() {
    let app = spawn_app_with(|vars| {
        vars.insert("SIGNING_KEY_REFRESH_SECS".into(), "1".into());
    })
    .await;
    let user = app.user("gone@example.com").await;
    // Verified once, so the server remembers it.
    user.get("/api/v1/me").await.expect(200);
    user.get("/api/v1/me").await.expect(200);
    // An operator starts over (say after JWT_SECRET leaked): every key is deleted, the next pass
    // makes a new one, and tokens of the old keys are refused although they have not expired.
    execute_sql(&app, "DELETE FROM signing_keys");
    let deadline = Instant::now() + Duration::from_secs(10);
    while !kids(&jwks(&app).await)
        .iter()
        .any(|k| *k != kid_of(user.access()))
    {
        assert!(Instant::now() < deadline, "no new key was made");
        actix_web::rt::time::sleep(Duration::from_millis(200)).await;
    }
    user.get("/api/v1/me").await.expect_problem(401, "invalid_token");
    let again = app.sign_in("gone@example.com", PASSWORD).await.expect(200);
    app.bearer(again.str_at("access_token"))
        .get("/api/v1/me")
        .await
        .expect(200);
}

fn other_secret(vars: &mut HashMap<String, String>) {
    vars.insert(
        "JWT_SECRET".into(),
        "another-jwt-secret-0123456789abcdef-0123456789".into(),
    );
}

fn eddsa(vars: &mut HashMap<String, String>) {
    vars.insert("JWT_ALG".into(), "EdDSA".into());
}

#[actix_web::test]
async fn a_process_with_another_secret_changes_no_key_and_list_changes_nothing() {
    let app = spawn_app_with(|_| {}).await;
    let user = app.user("secret@example.com").await;
    let kid = kid_of(user.access());
    let rows = || count_rows(&app, "signing_keys", "1 = 1");
    assert_eq!(rows(), 1);

    // A CLI run with the wrong secret (say, a forgotten production .env) makes no key.
    let refused = try_keys_command(&app, other_secret, "rotate").unwrap_err();
    assert!(
        refused.contains("does not open under this JWT_SECRET"),
        "{refused}"
    );
    assert_eq!(rows(), 1);
    // Nor does an instance started with it: it refuses to start.
    let vars = {
        let mut vars = base_vars(&app.db.shared());
        other_secret(&mut vars);
        vars
    };
    let settings = portcullis_server::Settings::from_vars(&vars).unwrap();
    let started = portcullis_server::Application::build(settings).await;
    let err = started
        .err()
        .expect("an instance with another secret must not start")
        .to_string();
    assert!(err.contains("does not open under this JWT_SECRET"), "{err}");
    assert_eq!(rows(), 1);

    // `keys list` only reads, even with settings that would start a rotation.
    let listed = keys_command(&app, eddsa, "list");
    assert!(listed.contains(&kid), "{listed}");
    assert_eq!(rows(), 1);
    user.get("/api/v1/me").await.expect(200);
}
