//! Security events: a user's own record of what happened to their account.

use portcullis_db::security_events::{self, SecurityEvent};
use portcullis_db::{DbConn, DbError};
use portcullis_web::ClientInfo;

/// The actions API.md lists.
pub mod action {
    /// A password sign-in succeeded.
    pub const LOGIN_SUCCEEDED: &str = "login.succeeded";
    /// A wrong password.
    pub const LOGIN_FAILED: &str = "login.failed";
    /// A sign-in refused by the back-off.
    pub const LOGIN_THROTTLED: &str = "login.throttled";
    /// A spent refresh token came back after the grace window; the session was revoked.
    pub const REFRESH_REUSED: &str = "refresh.reused";
    /// A session was ended (logout or revocation).
    pub const SESSION_REVOKED: &str = "session.revoked";
    /// The password changed.
    pub const PASSWORD_CHANGED: &str = "password.changed";
    /// A GitHub account was linked.
    pub const IDENTITY_LINKED: &str = "identity.linked";
    /// The password was reset through a mailed link.
    pub const PASSWORD_RESET: &str = "password.reset";
    /// The address was proven through a mailed link.
    pub const EMAIL_VERIFIED: &str = "email.verified";
    /// The account moved to a new, confirmed address.
    pub const EMAIL_CHANGED: &str = "email.changed";
    /// A TOTP authenticator was confirmed: sign-in asks for a second factor.
    pub const MFA_ENABLED: &str = "mfa.enabled";
    /// The second factor was turned off.
    pub const MFA_DISABLED: &str = "mfa.disabled";
    /// A wrong second-factor code.
    pub const MFA_FAILED: &str = "mfa.failed";
    /// A new set of recovery codes replaced the old one.
    pub const RECOVERY_CODES_REGENERATED: &str = "recovery_codes.regenerated";
    /// A GitHub account was unlinked.
    pub const IDENTITY_UNLINKED: &str = "identity.unlinked";
}

/// Records an event for `user_id`.
pub fn record(conn: &mut DbConn, user_id: &str, action: &str, client: &ClientInfo) -> Result<(), DbError> {
    security_events::insert(
        conn,
        &SecurityEvent {
            id: uuid::Uuid::now_v7().to_string(),
            user_id: user_id.to_owned(),
            action: action.to_owned(),
            ip: client.ip.clone(),
            user_agent: client.user_agent.clone(),
            created_at: portcullis_db::now(),
        },
    )
}
