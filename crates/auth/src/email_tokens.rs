//! Mailed tokens and the mail that carries them, as operations on a connection inside the caller's
//! write transaction (the HTTP handlers and, later, the hosted pages call the same functions).
//!
//! A token is 256 random bits, stored as its SHA-256 and sent only inside the link of its message.
//! A new token of a kind deletes the user's older ones of that kind (the older links stop working).
//! A token also names the address it was issued for: once the account's address changed, tokens
//! issued for the old one are refused.

use portcullis_db::email_tokens::{self, EmailToken};
use portcullis_db::users::{self, User};
use portcullis_db::DbConn;
use portcullis_mail::{Mail, MailError, Notice};
use portcullis_web::ApiError;

use crate::tokens::{hash_token, random_token};
use crate::Auth;

/// The three kinds of mailed token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    /// Proves the current address.
    Verify,
    /// Sets a new password.
    Reset,
    /// Moves the account to a new address.
    Change,
}

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Kind::Verify => "verify",
            Kind::Reset => "reset",
            Kind::Change => "change",
        }
    }

    fn mail(self, auth: &Auth, token: &str) -> Mail {
        let policy = &auth.config.email;
        let link = |page| auth.mailer.link(page, token);
        match self {
            Kind::Verify => Mail::VerifyEmail {
                link: link("verify-email"),
                valid_for: policy.verify_ttl,
            },
            Kind::Reset => Mail::ResetPassword {
                link: link("reset-password"),
                valid_for: policy.reset_ttl,
            },
            Kind::Change => Mail::ConfirmEmailChange {
                link: link("confirm-email"),
                valid_for: policy.change_ttl,
            },
        }
    }

    fn ttl(self, auth: &Auth) -> chrono::Duration {
        let policy = &auth.config.email;
        let ttl = match self {
            Kind::Verify => policy.verify_ttl,
            Kind::Reset => policy.reset_ttl,
            Kind::Change => policy.change_ttl,
        };
        chrono::Duration::from_std(ttl).unwrap_or(chrono::Duration::days(1))
    }
}

/// Maps a queueing failure: the database's own errors keep their meaning (503 on an outage), a
/// template that fails to render is a bug (500).
pub(crate) fn mail_error(err: MailError) -> ApiError {
    match err {
        MailError::Db(err) => err.into(),
        MailError::Render(err) => ApiError::internal(err),
    }
}

/// Issues a token of `kind` for `user` and queues its mail to `to` (the account's address, or the
/// new one for a change). Nothing is stored when the address is over its hourly cap: the earlier
/// link keeps working. Returns whether a mail was queued.
pub(crate) fn issue(
    conn: &mut DbConn,
    auth: &Auth,
    user: &User,
    kind: Kind,
    to: &str,
    to_key: &str,
) -> Result<bool, ApiError> {
    let now = portcullis_db::now();
    let token = random_token();
    let queued = auth
        .mailer
        .queue(conn, to, to_key, &kind.mail(auth, &token), now)
        .map_err(mail_error)?;
    if queued {
        email_tokens::replace(
            conn,
            &EmailToken {
                token_hash: hash_token(&token),
                user_id: user.id.clone(),
                kind: kind.name().to_owned(),
                email: user.email_normalized.clone(),
                new_email: (kind == Kind::Change).then(|| to.to_owned()),
                created_at: now,
                expires_at: now + kind.ttl(auth),
                used_at: None,
            },
        )?;
    }
    Ok(queued)
}

/// What a password-reset request does for an address with no account: the same cap check and the
/// same rendering as [`issue`], without storing anything, so both answers take about as long.
pub(crate) fn rehearse_reset(conn: &mut DbConn, auth: &Auth, to_key: &str) -> Result<(), ApiError> {
    let mail = Kind::Reset.mail(auth, &random_token());
    auth.mailer
        .rehearse(conn, to_key, &mail, portcullis_db::now())
        .map_err(mail_error)
}

/// The live token of `kind` and its user, without spending it: 400 `invalid_token` when it is
/// unknown, used, expired, superseded, or was issued for an address the account no longer has.
pub(crate) fn peek(conn: &mut DbConn, kind: Kind, token: &str) -> Result<(EmailToken, User), ApiError> {
    let row = email_tokens::find_live(conn, &hash_token(token), kind.name(), portcullis_db::now())?
        .ok_or_else(invalid_token)?;
    let user = match users::find(conn, &row.user_id) {
        Ok(user) => user,
        Err(portcullis_db::DbError::NotFound) => return Err(invalid_token()),
        Err(err) => return Err(err.into()),
    };
    if user.email_normalized != row.email {
        return Err(invalid_token());
    }
    Ok((row, user))
}

/// [`peek`], then spends the token; of two concurrent redemptions exactly one succeeds.
pub(crate) fn redeem(conn: &mut DbConn, kind: Kind, token: &str) -> Result<(EmailToken, User), ApiError> {
    let (row, user) = peek(conn, kind, token)?;
    if !email_tokens::spend(conn, &row.token_hash, portcullis_db::now())? {
        return Err(invalid_token());
    }
    Ok((row, user))
}

/// After the password changed (a reset, or a change while signed in): pending reset and email-change
/// links stop working. Someone who held a session long enough to ask for an address change must not
/// be able to finish it after the owner took the account back.
pub(crate) fn revoke_pending_changes(conn: &mut DbConn, user_id: &str) -> Result<(), ApiError> {
    email_tokens::delete_kinds(conn, user_id, &[Kind::Reset.name(), Kind::Change.name()])?;
    Ok(())
}

/// Queues a notice to the account's address (subject to the same hourly cap).
pub(crate) fn notify(conn: &mut DbConn, auth: &Auth, user: &User, notice: Notice) -> Result<(), ApiError> {
    auth.mailer
        .queue(
            conn,
            &user.email,
            &user.email_normalized,
            &Mail::Notice(notice),
            portcullis_db::now(),
        )
        .map_err(mail_error)?;
    Ok(())
}

/// 400 `invalid_token`.
pub(crate) fn invalid_token() -> ApiError {
    ApiError::BadRequest {
        code: "invalid_token",
        detail: "the link is invalid, expired or already used".into(),
    }
}
