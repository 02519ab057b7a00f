//! GitHub as an identity provider: the authorization-code flow with PKCE (oauth2 crate) and the two
//! API calls that identify the account.

use std::time::Duration;

use oauth2::basic::BasicClient;
use oauth2::{
    AuthUrl, AuthorizationCode, ClientId, ClientSecret, CsrfToken, HttpRequest, HttpResponse,
    PkceCodeChallenge, PkceCodeVerifier, RedirectUrl, Scope, TokenResponse, TokenUrl,
};
use serde::Deserialize;

/// Where GitHub is and how we are registered with it.
#[derive(Debug, Clone)]
pub struct GithubConfig {
    /// `GITHUB_CLIENT_ID`.
    pub client_id: String,
    /// `GITHUB_CLIENT_SECRET`.
    pub client_secret: String,
    /// `GITHUB_AUTHORIZE_URL`.
    pub authorize_url: String,
    /// `GITHUB_TOKEN_URL`.
    pub token_url: String,
    /// `GITHUB_API_URL`.
    pub api_url: String,
}

/// Why a step with GitHub failed (for the log; the browser gets a code).
#[derive(Debug, thiserror::Error)]
pub enum GithubError {
    /// A configured URL does not parse.
    #[error("invalid GitHub URL: {0}")]
    Url(String),
    /// The code exchange failed (bad, used or expired code; wrong verifier; GitHub down).
    #[error("token exchange failed: {0}")]
    Exchange(String),
    /// `/user` or `/user/emails` failed.
    #[error("GitHub API call failed: {0}")]
    Api(String),
}

/// The start of a flow: where to send the browser, and what to remember.
pub struct Authorize {
    /// GitHub's authorize URL with our parameters.
    pub url: String,
    /// The `state` to check on the way back.
    pub state: String,
    /// The PKCE verifier for the exchange.
    pub verifier: String,
}

/// The GitHub account behind a token.
#[derive(Debug, Clone)]
pub struct GithubAccount {
    /// Numeric id, the only stable identifier.
    pub id: i64,
    /// Login, for display.
    pub login: String,
    /// The primary email, if GitHub has verified it.
    pub verified_primary_email: Option<String>,
}

#[derive(Deserialize)]
struct UserBody {
    id: i64,
    login: String,
}

#[derive(Deserialize)]
struct EmailBody {
    email: String,
    primary: bool,
    verified: bool,
}

/// An HTTP client for GitHub: redirects off (a provider cannot bounce our requests elsewhere), short
/// timeouts, and the User-Agent GitHub requires.
pub fn http_client() -> Result<reqwest::Client, reqwest::Error> {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .connect_timeout(Duration::from_secs(5))
        .timeout(Duration::from_secs(10))
        .user_agent("portcullis")
        .build()
}

fn client(
    config: &GithubConfig,
    callback: &str,
) -> Result<
    BasicClient<
        oauth2::EndpointSet,
        oauth2::EndpointNotSet,
        oauth2::EndpointNotSet,
        oauth2::EndpointNotSet,
        oauth2::EndpointSet,
    >,
    GithubError,
> {
    let url = |e: oauth2::url::ParseError| GithubError::Url(e.to_string());
    Ok(BasicClient::new(ClientId::new(config.client_id.clone()))
        .set_client_secret(ClientSecret::new(config.client_secret.clone()))
        .set_auth_uri(AuthUrl::new(config.authorize_url.clone()).map_err(url)?)
        .set_token_uri(TokenUrl::new(config.token_url.clone()).map_err(url)?)
        .set_redirect_uri(RedirectUrl::new(callback.to_owned()).map_err(url)?))
}

/// Builds the authorize redirect: random state, PKCE S256, `read:user user:email`.
pub fn authorize(config: &GithubConfig, callback: &str) -> Result<Authorize, GithubError> {
    let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
    let (url, state) = client(config, callback)?
        .authorize_url(CsrfToken::new_random)
        .add_scope(Scope::new("read:user".into()))
        .add_scope(Scope::new("user:email".into()))
        .set_pkce_challenge(challenge)
        .url();
    Ok(Authorize {
        url: url.to_string(),
        state: state.secret().clone(),
        verifier: verifier.secret().clone(),
    })
}

/// Exchanges the code (form POST, `Accept: application/json`) and reads the account. The GitHub
/// token is used for these two calls and then dropped, never stored.
pub async fn account(
    config: &GithubConfig,
    http: &reqwest::Client,
    callback: &str,
    code: String,
    verifier: String,
) -> Result<GithubAccount, GithubError> {
    let send = |request: HttpRequest| async move { forward(http, request).await };
    let token = client(config, callback)?
        .exchange_code(AuthorizationCode::new(code))
        .set_pkce_verifier(PkceCodeVerifier::new(verifier))
        .request_async(&send)
        .await
        .map_err(|e| GithubError::Exchange(e.to_string()))?;
    let bearer = token.access_token().secret().clone();
    let api = config.api_url.trim_end_matches('/');
    let user: UserBody = get_json(http, &format!("{api}/user"), &bearer).await?;
    let emails: Vec<EmailBody> = get_json(http, &format!("{api}/user/emails"), &bearer).await?;
    let verified_primary_email = emails
        .into_iter()
        .find(|e| e.primary && e.verified)
        .map(|e| e.email);
    Ok(GithubAccount {
        id: user.id,
        login: user.login,
        verified_primary_email,
    })
}

async fn get_json<T: serde::de::DeserializeOwned>(
    http: &reqwest::Client,
    url: &str,
    token: &str,
) -> Result<T, GithubError> {
    let response = http
        .get(url)
        .bearer_auth(token)
        .header("Accept", "application/vnd.github+json")
        .send()
        .await
        .map_err(|e| GithubError::Api(e.to_string()))?;
    if !response.status().is_success() {
        return Err(GithubError::Api(format!("{url} answered {}", response.status())));
    }
    response.json().await.map_err(|e| GithubError::Api(e.to_string()))
}

/// Sends one of oauth2's requests with our client.
async fn forward(http: &reqwest::Client, request: HttpRequest) -> Result<HttpResponse, reqwest::Error> {
    let (parts, body) = request.into_parts();
    let mut builder = http.request(parts.method, parts.uri.to_string()).body(body);
    for (name, value) in &parts.headers {
        builder = builder.header(name, value);
    }
    let response = builder.send().await?;
    let mut out = oauth2::http::Response::builder().status(response.status());
    for (name, value) in response.headers() {
        out = out.header(name, value);
    }
    let bytes = response.bytes().await?;
    // The builder only fails on invalid parts, which came from a valid response.
    Ok(out.body(bytes.to_vec()).unwrap_or_default())
}
