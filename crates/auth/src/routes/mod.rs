//! The identity routes: their one list ([`list`]) and their handlers, in small files.

pub mod account;
mod body;
pub mod discovery;
pub use body::{Accepted, TokenResponse, UserBody};
pub mod email;
pub mod github;
pub mod login;
pub mod mfa;
pub mod session_routes;

use actix_web::http::Method;
use portcullis_web::{op, route, Guard, Op, RouteDef, Schemas, LIST_QUERY};
use utoipa::openapi::Type;

use account::{ChangePassword, DeleteMe, EventBody, MeBody, UpdateMe};
use email::{ChangeEmail, ForgotPassword, ResetPassword, TokenBody};
use github::{AuthorizeUrl, CompleteLink, Exchange, LinkedIdentities};
use login::{LoginRequest, SignupRequest};
use mfa::{CodeBody, Enrol, Enrolment, RecoveryCodes, VerifyMfa};
use session_routes::{RefreshRequest, SessionList};

/// Every identity route under `/api/v1`.
pub fn list() -> Vec<RouteDef> {
    use Guard::{Public, User};
    vec![
        route(
            "Signup",
            Method::POST,
            "/auth/signup",
            Public,
            |r| r.to(login::signup),
            signup_doc,
        )
        .sign_in(),
        route(
            "Login",
            Method::POST,
            "/auth/login",
            Public,
            |r| r.to(login::login),
            login_doc,
        )
        .sign_in(),
        route(
            "Refresh",
            Method::POST,
            "/auth/refresh",
            Public,
            |r| r.to(session_routes::refresh),
            refresh_doc,
        )
        .sign_in(),
        route(
            "Logout",
            Method::POST,
            "/auth/logout",
            User,
            |r| r.to(session_routes::logout),
            |_| op("Sign out: revoke the current session", "identity", 204),
        ),
        route(
            "ListSessions",
            Method::GET,
            "/auth/sessions",
            User,
            |r| r.to(session_routes::list),
            |s| op("The caller's live sessions", "identity", 200).returns(s.of::<SessionList>()),
        ),
        route(
            "RevokeSession",
            Method::DELETE,
            "/auth/sessions/{id}",
            User,
            |r| r.to(session_routes::revoke),
            |_| op("Revoke one of the caller's sessions", "identity", 204).errors(&[404]),
        ),
        route(
            "ChangePassword",
            Method::POST,
            "/auth/password",
            User,
            |r| r.to(account::change_password),
            |s| {
                op("Change the password; other sessions are revoked", "identity", 204)
                    .body(s.of::<ChangePassword>())
                    .errors(&[409])
            },
        ),
        route(
            "RequestEmailVerification",
            Method::POST,
            "/auth/email/verify/request",
            User,
            |r| r.to(email::request_verification),
            |s| {
                op(
                    "Mail a new verification link (earlier links stop working)",
                    "email",
                    202,
                )
                .returns(s.of::<Accepted>())
                .errors(&[409])
            },
        )
        .sign_in(),
        route(
            "VerifyEmail",
            Method::POST,
            "/auth/email/verify",
            Public,
            |r| r.to(email::verify),
            |s| {
                op("Verify the address with a mailed token", "email", 200)
                    .body(s.of::<TokenBody>())
                    .returns(s.of::<UserBody>())
                    .errors(&[400])
            },
        )
        .sign_in(),
        route(
            "ForgotPassword",
            Method::POST,
            "/auth/password/forgot",
            Public,
            |r| r.to(email::forgot_password),
            |s| {
                op(
                    "Mail a password-reset link (the same answer whether or not the account exists)",
                    "email",
                    202,
                )
                .body(s.of::<ForgotPassword>())
                .returns(s.of::<Accepted>())
            },
        )
        .sign_in(),
        route(
            "ResetPassword",
            Method::POST,
            "/auth/password/reset",
            Public,
            |r| r.to(email::reset_password),
            |s| {
                op(
                    "Set a new password with a mailed token; every session is revoked",
                    "email",
                    204,
                )
                .body(s.of::<ResetPassword>())
                .errors(&[400])
            },
        )
        .sign_in(),
        route(
            "ChangeEmail",
            Method::POST,
            "/me/email",
            User,
            |r| r.to(email::change_email),
            |s| {
                op(
                    "Ask to change the address: a confirmation link goes to the new one, a notice to \
                     the old one",
                    "email",
                    202,
                )
                .body(s.of::<ChangeEmail>())
                .returns(s.of::<Accepted>())
                .errors(&[409])
            },
        )
        .sign_in(),
        route(
            "ConfirmEmailChange",
            Method::POST,
            "/auth/email/change/confirm",
            Public,
            |r| r.to(email::confirm_email_change),
            |s| {
                op("Confirm a new address with a mailed token", "email", 200)
                    .body(s.of::<TokenBody>())
                    .returns(s.of::<UserBody>())
                    .errors(&[400, 409])
            },
        )
        .sign_in(),
        route(
            "VerifyMfa",
            Method::POST,
            "/auth/mfa/verify",
            Public,
            |r| r.to(mfa::verify),
            |s| {
                op(
                    "Finish a sign-in with a code from the authenticator app or a recovery code",
                    "mfa",
                    200,
                )
                .body(s.of::<VerifyMfa>())
                .returns(s.of::<TokenResponse>())
                .errors(&[400, 401])
            },
        )
        .sign_in(),
        route(
            "EnrolTotp",
            Method::POST,
            "/me/mfa/totp",
            User,
            |r| r.to(mfa::enrol),
            |s| {
                op(
                    "Start enrolling an authenticator app: its secret, shown once",
                    "mfa",
                    200,
                )
                .body(s.of::<Enrol>())
                .returns(s.of::<Enrolment>())
                .errors(&[409])
            },
        )
        .sign_in(),
        route(
            "ConfirmTotp",
            Method::POST,
            "/me/mfa/totp/confirm",
            User,
            |r| r.to(mfa::confirm),
            |s| {
                op(
                    "Confirm the authenticator with its first code: MFA is on; recovery codes, shown once",
                    "mfa",
                    200,
                )
                .body(s.of::<CodeBody>())
                .returns(s.of::<RecoveryCodes>())
                .errors(&[400, 409])
            },
        )
        .sign_in(),
        route(
            "DisableTotp",
            Method::DELETE,
            "/me/mfa/totp",
            User,
            |r| r.to(mfa::disable),
            |s| {
                op("Turn MFA off with a TOTP or recovery code", "mfa", 204)
                    .body(s.of::<CodeBody>())
                    .errors(&[400, 409])
            },
        )
        .sign_in(),
        route(
            "RegenerateRecoveryCodes",
            Method::POST,
            "/me/mfa/recovery-codes",
            User,
            |r| r.to(mfa::regenerate),
            |s| {
                op(
                    "A new set of recovery codes (TOTP required); the old set stops working",
                    "mfa",
                    200,
                )
                .body(s.of::<CodeBody>())
                .returns(s.of::<RecoveryCodes>())
                .errors(&[400, 409])
            },
        )
        .sign_in(),
        route(
            "GetMe",
            Method::GET,
            "/me",
            User,
            |r| r.to(account::me),
            |s| op("The caller, their identities and tenants", "identity", 200).returns(s.of::<MeBody>()),
        ),
        route(
            "UpdateMe",
            Method::PATCH,
            "/me",
            User,
            |r| r.to(account::update_me),
            |s| {
                op("Change the display name", "identity", 200)
                    .body(s.of::<UpdateMe>())
                    .returns(s.of::<UserBody>())
            },
        ),
        route(
            "DeleteMe",
            Method::DELETE,
            "/me",
            User,
            |r| r.to(account::delete_me),
            |s| {
                op(
                    "Delete the account (password required when it has one)",
                    "identity",
                    204,
                )
                .body(s.of::<DeleteMe>())
                .errors(&[409])
            },
        ),
        route(
            "SecurityEvents",
            Method::GET,
            "/me/security-events",
            User,
            |r| r.to(account::security_events),
            |s| {
                op("The caller's security events, newest first", "identity", 200)
                    .returns(s.page::<EventBody>())
                    .query(LIST_QUERY)
            },
        ),
        route(
            "UnlinkGithub",
            Method::DELETE,
            "/me/identities/github",
            User,
            |r| r.to(github::unlink),
            |_| op("Unlink GitHub", "github", 204).errors(&[404, 409]),
        ),
        route(
            "GithubAuthorize",
            Method::GET,
            "/auth/github/authorize",
            Public,
            |r| r.to(github::authorize),
            github_authorize_doc,
        )
        .sign_in(),
        route(
            "GithubCallback",
            Method::GET,
            "/auth/github/callback",
            Public,
            |r| r.to(github::callback),
            |_| {
                op(
                    "GitHub's redirect back (redirects to redirect_uri)",
                    "github",
                    302,
                )
                .errors(&[400, 404])
                .query(&[
                    ("code", Type::String, "authorization code"),
                    ("state", Type::String, "the flow's state"),
                    ("error", Type::String, "set by GitHub on refusal"),
                ])
            },
        )
        .sign_in(),
        route(
            "GithubLink",
            Method::POST,
            "/auth/github/link",
            User,
            |r| r.to(github::start_link),
            |s| {
                op(
                "Start linking GitHub to the caller's account (the flow ends at redirect_uri?link_code=…)",
                "github",
                200,
            )
            .returns(s.of::<AuthorizeUrl>())
            .errors(&[400, 404])
            .query(&[("redirect_uri", Type::String, "an entry of OAUTH_REDIRECT_ALLOWLIST")])
            },
        )
        .sign_in(),
        route(
            "GithubLinkComplete",
            Method::POST,
            "/auth/github/link/complete",
            User,
            |r| r.to(github::complete_link),
            |s| {
                op(
                    "Link the GitHub account of a finished link flow; only its starting user may (403 \
                 link_user_mismatch otherwise, and the code is spent)",
                    "github",
                    200,
                )
                .body(s.of::<CompleteLink>())
                .returns(s.of::<LinkedIdentities>())
                .errors(&[400, 403, 404, 409])
            },
        )
        .sign_in(),
        route(
            "OauthExchange",
            Method::POST,
            "/auth/oauth/exchange",
            Public,
            |r| r.to(github::exchange),
            |s| {
                op(
                    "Exchange a login code and the application's code_verifier for tokens (any attempt \
                 spends the code)",
                    "github",
                    200,
                )
                .body(s.of::<Exchange>())
                .returns(s.of::<TokenResponse>())
                .errors(&[401])
            },
        )
        .sign_in(),
    ]
}

fn signup_doc(s: &mut Schemas) -> Op {
    op("Sign up with email and password", "identity", 201)
        .body(s.of::<SignupRequest>())
        .returns(s.of::<TokenResponse>())
        .errors(&[409])
}

fn login_doc(s: &mut Schemas) -> Op {
    op(
        "Sign in with email and password (sets a device cookie); with MFA on, 401 mfa_required with an \
         mfa_token for POST /auth/mfa/verify",
        "identity",
        200,
    )
    .body(s.of::<LoginRequest>())
    .returns(s.of::<TokenResponse>())
    .errors(&[401, 403])
}

fn refresh_doc(s: &mut Schemas) -> Op {
    op("Rotate a refresh token", "identity", 200)
        .body(s.of::<RefreshRequest>())
        .returns(s.of::<TokenResponse>())
        .errors(&[401])
}

fn github_authorize_doc(_: &mut Schemas) -> Op {
    op("Start GitHub sign-in (redirects to GitHub)", "github", 302)
        .errors(&[400, 404, 422])
        .query(&[
            (
                "redirect_uri",
                Type::String,
                "an entry of OAUTH_REDIRECT_ALLOWLIST",
            ),
            (
                "code_challenge",
                Type::String,
                "BASE64URL(SHA256(code_verifier)) of a verifier of 43 to 128 characters that the \
                 application keeps for POST /auth/oauth/exchange; required for a sign-in (422 \
                 without it), not for the URL of POST /auth/github/link",
            ),
            (
                "code_challenge_method",
                Type::String,
                "S256 (the only method; required with code_challenge)",
            ),
            (
                "link_ticket",
                Type::String,
                "set in the authorize_url of POST /auth/github/link",
            ),
        ])
}
