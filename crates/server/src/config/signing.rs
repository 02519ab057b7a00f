//! Access token signing: `JWT_ALG` and the rotation schedule of the key pairs
//! (`SIGNING_KEY_ROTATION_DAYS`, `SIGNING_KEY_PREPUBLISH_SECS`, `SIGNING_KEY_REFRESH_SECS`).

use std::time::Duration;

use portcullis_auth::routes::discovery::CACHE_MAX_AGE_SECS;
use portcullis_auth::signing::SigningAlg;

use super::reader::Reader;
use super::AppEnv;

/// How access tokens are signed.
#[derive(Debug, Clone, Copy)]
pub struct SigningSettings {
    /// `JWT_ALG`: `ES256` (default), `EdDSA` or `HS256`.
    pub alg: SigningAlg,
    /// `SIGNING_KEY_ROTATION_DAYS` (30; decimals allowed): how long a key signs.
    pub rotation: Duration,
    /// `SIGNING_KEY_PREPUBLISH_SECS` (600): how long a new key is published before it signs.
    pub prepublish: Duration,
    /// `SIGNING_KEY_REFRESH_SECS` (60): how often each instance runs a rotation pass and reloads keys.
    pub refresh: Duration,
}

const DAY_SECS: f64 = 24.0 * 60.0 * 60.0;

impl Reader<'_> {
    pub(super) fn signing(&mut self, app_env: AppEnv) -> Option<SigningSettings> {
        let alg = match self.get("JWT_ALG") {
            None => Some(SigningAlg::Es256),
            Some(name) => SigningAlg::parse(name).or_else(|| {
                self.problem(format!("JWT_ALG must be ES256, EdDSA or HS256, not {name:?}"));
                None
            }),
        };
        let days = self.parse(
            "SIGNING_KEY_ROTATION_DAYS",
            Some(30.0_f64),
            "a number of days (decimals allowed)",
        );
        let rotation = days.and_then(|days| {
            let rotation = Duration::try_from_secs_f64(days * DAY_SECS)
                .ok()
                .filter(|d| d.as_secs() >= 1);
            if rotation.is_none() || days > 3650.0 {
                self.problem(format!(
                    "SIGNING_KEY_ROTATION_DAYS must be more than 0 and at most 3650, not {days}"
                ));
                return None;
            }
            rotation
        });
        let prepublish = self.seconds("SIGNING_KEY_PREPUBLISH_SECS", 600, 1);
        let refresh = self.seconds("SIGNING_KEY_REFRESH_SECS", 60, 1);
        let (alg, rotation, prepublish, refresh) = (alg?, rotation?, prepublish?, refresh?);
        if refresh >= prepublish {
            // An instance that reloads less often than keys are pre-published could meet a token of a
            // key it has not loaded yet.
            self.problem("SIGNING_KEY_REFRESH_SECS must be less than SIGNING_KEY_PREPUBLISH_SECS".into());
        }
        if rotation <= prepublish {
            self.problem("SIGNING_KEY_ROTATION_DAYS must be longer than SIGNING_KEY_PREPUBLISH_SECS".into());
        }
        // The JWKS cache lifetime, one reload of the instance a verifier asked, and a minute for clock
        // skew and slow passes.
        let cached = Duration::from_secs(CACHE_MAX_AGE_SECS + 60) + refresh;
        if alg != SigningAlg::Hs256 && prepublish < cached {
            let message = format!(
                "SIGNING_KEY_PREPUBLISH_SECS ({}) is shorter than the JWKS cache lifetime ({CACHE_MAX_AGE_SECS} s) \
                 plus SIGNING_KEY_REFRESH_SECS plus 60 s: a verifier caching the JWKS may meet a key it does not know",
                prepublish.as_secs()
            );
            match app_env {
                AppEnv::Production => self.problem(message),
                AppEnv::Development => log::warn!("{message}"),
            }
        }
        if alg == SigningAlg::Hs256 && app_env == AppEnv::Production {
            log::warn!(
                "JWT_ALG=HS256: only holders of JWT_SECRET can verify access tokens; the JWKS is empty"
            );
        }
        Some(SigningSettings {
            alg,
            rotation,
            prepublish,
            refresh,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_support::{production, session, vars, JWT};
    use super::super::Settings;
    use super::*;

    #[test]
    fn es256_rotating_monthly_is_the_default() {
        let settings =
            Settings::from_vars(&vars(&[("JWT_SECRET", JWT), ("SESSION_SECRET", &session())])).unwrap();
        assert_eq!(settings.signing.alg, SigningAlg::Es256);
        assert_eq!(settings.signing.rotation, Duration::from_secs(30 * 86_400));
        assert_eq!(settings.signing.prepublish, Duration::from_secs(600));
        assert_eq!(settings.signing.refresh, Duration::from_secs(60));
        let settings = Settings::from_vars(&vars(&[
            ("JWT_SECRET", JWT),
            ("SESSION_SECRET", &session()),
            ("JWT_ALG", "EdDSA"),
            ("SIGNING_KEY_ROTATION_DAYS", "0.5"),
        ]))
        .unwrap();
        assert_eq!(settings.signing.alg, SigningAlg::EdDsa);
        assert_eq!(settings.signing.rotation, Duration::from_secs(43_200));
    }

    #[test]
    fn unsafe_schedules_are_refused() {
        let cases: &[(&[(&str, &str)], &str)] = &[
            (&[("JWT_ALG", "RS256")], "JWT_ALG must be"),
            (&[("JWT_ALG", "none")], "JWT_ALG must be"),
            (
                &[("SIGNING_KEY_ROTATION_DAYS", "0")],
                "SIGNING_KEY_ROTATION_DAYS must be more than 0",
            ),
            (
                &[("SIGNING_KEY_ROTATION_DAYS", "-1")],
                "SIGNING_KEY_ROTATION_DAYS must be more than 0",
            ),
            (
                &[("SIGNING_KEY_ROTATION_DAYS", "soon")],
                "SIGNING_KEY_ROTATION_DAYS must be a number",
            ),
            (
                &[
                    ("SIGNING_KEY_PREPUBLISH_SECS", "30"),
                    ("SIGNING_KEY_REFRESH_SECS", "30"),
                ],
                "SIGNING_KEY_REFRESH_SECS must be less than",
            ),
            (
                &[("SIGNING_KEY_ROTATION_DAYS", "0.001")],
                "SIGNING_KEY_ROTATION_DAYS must be longer than SIGNING_KEY_PREPUBLISH_SECS",
            ),
        ];
        for (extra, needle) in cases {
            let mut env = vars(&[("JWT_SECRET", JWT), ("SESSION_SECRET", &session())]);
            env.extend(vars(extra));
            let errors = Settings::from_vars(&env).unwrap_err().to_string();
            assert!(
                errors.contains(needle),
                "{extra:?}: {needle} missing from {errors}"
            );
        }
        // Production also refuses a pre-publication shorter than the JWKS cache lifetime.
        let errors = Settings::from_vars(&production(&[("SIGNING_KEY_PREPUBLISH_SECS", "120")]))
            .unwrap_err()
            .to_string();
        assert!(errors.contains("JWKS cache lifetime"), "{errors}");
        assert!(Settings::from_vars(&production(&[])).is_ok());
    }
}
