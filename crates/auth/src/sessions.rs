//! Sessions and refresh-token rotation.

use chrono::{Duration, NaiveDateTime};
use portcullis_db::refresh_tokens::{self, RefreshToken};
use portcullis_db::sessions::{self, Session};
use portcullis_db::users::User;
use portcullis_db::{write_transaction, DbConn};
use portcullis_web::{ApiError, ClientInfo};

use crate::events::{self, action};
use crate::tokens::{hash_token, random_token};
use crate::Auth;

/// A refresh token handed to the client, with its session.
#[derive(Debug, Clone)]
pub struct Grant {
    /// The session.
    pub session_id: String,
    /// The refresh token (shown once, stored hashed).
    pub refresh_token: String,
    /// When that token stops working unless used.
    pub refresh_expires_at: NaiveDateTime,
    /// How the session's user signed in (the access tokens' `amr`).
    pub amr: Vec<String>,
}

/// The first factor of a password sign-in.
pub const PWD: &str = "pwd";
/// The first factor of a GitHub sign-in.
pub const GITHUB: &str = "github";
/// A second factor (TOTP or recovery code).
pub const OTP: &str = "otp";

/// The stored form of an amr list and back.
fn amr_list(stored: &str) -> Vec<String> {
    stored
        .split(',')
        .filter(|m| !m.is_empty())
        .map(str::to_owned)
        .collect()
}

fn duration(std: std::time::Duration) -> Duration {
    Duration::from_std(std).unwrap_or(Duration::MAX)
}

/// A new, unspent refresh-token row.
fn unspent(
    token_hash: String,
    session_id: &str,
    now: NaiveDateTime,
    expires_at: NaiveDateTime,
) -> RefreshToken {
    RefreshToken {
        token_hash,
        session_id: session_id.to_owned(),
        created_at: now,
        expires_at,
        spent_at: None,
        successor_hash: None,
    }
}

/// Opens a session for `user` with its first refresh token.
pub fn start(
    conn: &mut DbConn,
    auth: &Auth,
    user: &User,
    amr: &[&str],
    client: &ClientInfo,
) -> Result<Grant, ApiError> {
    let now = portcullis_db::now();
    let absolute = now + duration(auth.config.session_max_age);
    let expires = (now + duration(auth.config.refresh_ttl)).min(absolute);
    let session = Session {
        id: uuid::Uuid::now_v7().to_string(),
        user_id: user.id.clone(),
        created_at: now,
        last_used_at: now,
        expires_at: expires,
        absolute_expires_at: absolute,
        revoked_at: None,
        user_agent: client.user_agent.clone(),
        ip: client.ip.clone(),
        amr: amr.join(","),
    };
    let refresh_token = random_token();
    write_transaction(conn, |conn| {
        sessions::insert(conn, &session)?;
        refresh_tokens::insert(
            conn,
            &unspent(hash_token(&refresh_token), &session.id, now, expires),
        )?;
        Ok::<_, ApiError>(())
    })?;
    Ok(Grant {
        amr: amr_list(&session.amr),
        session_id: session.id,
        refresh_token,
        refresh_expires_at: expires,
    })
}

/// What presenting a refresh token led to.
#[derive(Debug)]
pub enum Rotation {
    /// A successor was issued (or, within the grace window, issued again).
    Rotated {
        /// The session's user.
        user: Box<User>,
        /// The new refresh token and its session.
        grant: Grant,
    },
    /// Unknown, expired, revoked: nothing changed.
    Invalid,
    /// A spent token came back after the grace window: the session is now revoked.
    Reused,
}

/// Rotates `presented` in one write transaction. The conditional "spend" UPDATE lets exactly one of
/// several concurrent requests rotate; the others find the token spent a moment ago and, within the
/// grace window, get the same successor, because successors are derived from the spent token with a
/// server key rather than drawn at random.
pub fn rotate(
    conn: &mut DbConn,
    auth: &Auth,
    presented: &str,
    client: &ClientInfo,
) -> Result<Rotation, ApiError> {
    let presented_hash = hash_token(presented);
    let successor = auth.keys.successor_of(presented);
    let successor_hash = hash_token(&successor);
    let grace = duration(auth.config.reuse_grace);
    let refresh_ttl = duration(auth.config.refresh_ttl);
    write_transaction(conn, |conn| {
        let now = portcullis_db::now();
        // The token, its session and the user in one statement.
        let Some((token, session, user)) = refresh_tokens::find_with_session(conn, &presented_hash)? else {
            return Ok(Rotation::Invalid);
        };
        if session.revoked_at.is_some() || session.absolute_expires_at <= now {
            return Ok(Rotation::Invalid);
        }
        let spent_at = match token.spent_at {
            Some(spent_at) => Some(spent_at),
            None if token.expires_at <= now => return Ok(Rotation::Invalid),
            None if refresh_tokens::spend(conn, &presented_hash, &successor_hash, now)? => None,
            // Another request spent it between our read and our update.
            None => Some(now),
        };
        match spent_at {
            None => {
                let expires = (now + refresh_ttl).min(session.absolute_expires_at);
                refresh_tokens::insert(conn, &unspent(successor_hash.clone(), &session.id, now, expires))?;
                sessions::touch(conn, &session.id, now, expires)?;
                Ok(Rotation::Rotated {
                    user: Box::new(user),
                    grant: Grant {
                        amr: amr_list(&session.amr),
                        session_id: session.id,
                        refresh_token: successor,
                        refresh_expires_at: expires,
                    },
                })
            }
            Some(spent_at)
                if now - spent_at <= grace
                    && token
                        .successor_hash
                        .as_deref()
                        .is_none_or(|h| h == successor_hash) =>
            {
                let expires = refresh_tokens::find(conn, &successor_hash)?
                    .map(|t| t.expires_at)
                    .unwrap_or(session.expires_at);
                Ok(Rotation::Rotated {
                    user: Box::new(user),
                    grant: Grant {
                        amr: amr_list(&session.amr),
                        session_id: session.id,
                        refresh_token: successor,
                        refresh_expires_at: expires,
                    },
                })
            }
            Some(_) => {
                sessions::revoke(conn, &session.user_id, &session.id, now)?;
                events::record(conn, &session.user_id, action::REFRESH_REUSED, client)?;
                log::warn!("refresh token reuse detected; session {} revoked", session.id);
                Ok(Rotation::Reused)
            }
        }
    })
}

/// Revokes one of the user's sessions and records it; false when it is not theirs or already ended.
pub fn revoke(
    conn: &mut DbConn,
    user_id: &str,
    session_id: &str,
    client: &ClientInfo,
) -> Result<bool, ApiError> {
    write_transaction(conn, |conn| {
        let revoked = sessions::revoke(conn, user_id, session_id, portcullis_db::now())?;
        if revoked {
            events::record(conn, user_id, action::SESSION_REVOKED, client)?;
        }
        Ok(revoked)
    })
}
