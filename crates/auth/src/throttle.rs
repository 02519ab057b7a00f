//! Sign-in throttling: per-account back-off that behaves the same for unknown emails, and device
//! cookies that keep a stranger's failures from locking the owner out.
//!
//! Every password check is counted *before* argon2 runs against a throttle key:
//! - `account:<normalised email>` for a client without a device cookie, whether or not the account
//!   exists, so a 429 tells nobody that an email is registered;
//! - `device:<id>` for a client presenting a valid device cookie of that account (OWASP's "device
//!   cookies"): after a successful sign-in the client gets a signed cookie naming a random device id,
//!   and later attempts from it are counted against that device only. A guesser who never signed in
//!   has no valid cookie and shares the account's allowance; the owner's own device keeps signing in
//!   while the account key is locked by someone else.

use actix_web::cookie::{Cookie, SameSite};
use actix_web::HttpRequest;
use chrono::Duration;
use portcullis_db::login_throttles::{self, Attempt};
use portcullis_db::{DbConn, Pool};
use portcullis_web::{with_conn, ApiError, ClientInfo};

use crate::events::{self, action};
use crate::password::Verified;
use crate::tokens::hash_token;
use crate::Auth;

/// Consecutive failures after which sign-ins back off.
const THROTTLE_AFTER: i32 = 5;
const MAX_BACKOFF_SECS: i64 = 15 * 60;
/// The device cookie. Scoped to the sign-in routes and never sent cross-site.
pub const DEVICE_COOKIE: &str = "portcullis-device";
const DEVICE_COOKIE_PATH: &str = "/api/v1/auth";
const DEVICE_COOKIE_DAYS: i64 = 180;

/// 1 s after the fifth consecutive failure, doubling with each further one, at most 15 minutes.
pub(crate) fn backoff(failures: i32) -> Option<Duration> {
    if failures < THROTTLE_AFTER {
        return None;
    }
    let doublings = u32::try_from(failures - THROTTLE_AFTER).unwrap_or(0).min(20);
    Some(Duration::seconds((1i64 << doublings).min(MAX_BACKOFF_SECS)))
}

/// What a password attempt is counted against.
#[derive(Debug, Clone)]
pub(crate) struct ThrottleKey {
    key: String,
    /// The device id when the client presented a valid device cookie for this account.
    device: Option<String>,
    /// The 429's code: `login_throttled`, or `mfa_throttled` for second-factor codes.
    refusal: &'static str,
}

impl ThrottleKey {
    /// The key for an attempt on `email_normalized`, from the request's device cookie if it is valid
    /// for this account.
    pub(crate) fn for_request(auth: &Auth, req: &HttpRequest, email_normalized: &str) -> ThrottleKey {
        let device = req.cookie(DEVICE_COOKIE).and_then(|cookie| {
            let (id, tag) = cookie.value().split_once('.')?;
            auth.keys
                .device_tag_matches(email_normalized, id, tag)
                .then(|| id.to_owned())
        });
        match device {
            Some(id) => ThrottleKey {
                key: format!("device:{id}"),
                device: Some(id),
                refusal: "login_throttled",
            },
            None => ThrottleKey::account(email_normalized),
        }
    }

    /// The account-wide key (signed-in password checks, clients without a device cookie). The email
    /// is stored hashed: whatever was typed into the email field (a password, some days) is kept for a
    /// day, and the key has a fixed length whatever the input's.
    pub(crate) fn account(email_normalized: &str) -> ThrottleKey {
        ThrottleKey {
            key: format!("account:{}", hash_token(email_normalized)),
            device: None,
            refusal: "login_throttled",
        }
    }

    /// Second-factor codes of one account (sign-in, enrolment, disabling): the same back-off as
    /// passwords, counted apart from them, refused with 429 `mfa_throttled`.
    pub(crate) fn mfa(user_id: &str) -> ThrottleKey {
        ThrottleKey {
            key: format!("mfa:{user_id}"),
            device: None,
            refusal: "mfa_throttled",
        }
    }

    /// Counts the attempt; 429 `login_throttled` during a back-off. The first refusal of a window is
    /// recorded for `user_id` (when the account exists); later ones are not, so a flood of refused
    /// attempts cannot flood the owner's event feed.
    pub(crate) fn begin(
        &self,
        conn: &mut DbConn,
        user_id: Option<&str>,
        client: &ClientInfo,
    ) -> Result<(), ApiError> {
        let now = portcullis_db::now();
        let record = |conn: &mut DbConn| match user_id {
            Some(user_id) => events::record(conn, user_id, action::LOGIN_THROTTLED, client),
            None => Ok(()),
        };
        match login_throttles::begin_attempt(conn, &self.key, now, backoff, record)? {
            Attempt::Allowed => Ok(()),
            Attempt::Throttled { until } => {
                let wait = (until - now).num_milliseconds().max(0);
                let retry_after_secs = u64::try_from(wait).unwrap_or(0).div_ceil(1000).max(1);
                Err(ApiError::TooManyRequests {
                    code: self.refusal,
                    retry_after_secs,
                })
            }
        }
    }

    /// Runs the password check counted by [`ThrottleKey::begin`]. When the hashing queue sheds it
    /// (503), the attempt is taken back: the password was never checked, and a user who is told to
    /// retry must not be pushed towards a back-off by a storm they did not cause.
    pub(crate) async fn verify(
        &self,
        auth: &Auth,
        pool: &Pool,
        stored: Option<String>,
        password: String,
    ) -> Result<Verified, ApiError> {
        match auth.hasher.verify(stored, password).await {
            Ok(verified) => Ok(verified),
            Err(err) => {
                let key = self.key.clone();
                if let Err(refund) = with_conn(pool, move |conn| {
                    Ok(login_throttles::refund(conn, &key, backoff)?)
                })
                .await
                {
                    log::warn!("could not take back a shed sign-in attempt: {refund}");
                }
                Err(err)
            }
        }
    }

    /// After a correct password: the count of this key starts over. A device's success clears only
    /// the device's count, so the owner signing in does not hand a guesser a fresh allowance on the
    /// account.
    pub(crate) fn succeeded(&self, conn: &mut DbConn) -> Result<(), ApiError> {
        login_throttles::clear(conn, &self.key)?;
        Ok(())
    }

    /// The device cookie to set after a successful sign-in: the presented one again, or a new device.
    pub(crate) fn device_cookie(&self, auth: &Auth, email_normalized: &str) -> Cookie<'static> {
        let id = self.device.clone().unwrap_or_else(crate::tokens::random_token);
        let tag = auth.keys.device_tag(email_normalized, &id);
        Cookie::build(DEVICE_COOKIE, format!("{id}.{tag}"))
            .path(DEVICE_COOKIE_PATH)
            .http_only(true)
            .secure(auth.config.public_url.starts_with("https://"))
            .same_site(SameSite::Strict)
            .max_age(actix_web::cookie::time::Duration::days(DEVICE_COOKIE_DAYS))
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_starts_at_the_fifth_failure_and_doubles_to_fifteen_minutes() {
        assert_eq!(backoff(4), None);
        assert_eq!(backoff(5), Some(Duration::seconds(1)));
        assert_eq!(backoff(6), Some(Duration::seconds(2)));
        assert_eq!(backoff(9), Some(Duration::seconds(16)));
        assert_eq!(backoff(15), Some(Duration::seconds(900)));
        assert_eq!(backoff(1000), Some(Duration::seconds(900)));
    }
}
