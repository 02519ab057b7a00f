//! Which cross-origin callers may read responses (`CORS_ALLOWED_ORIGINS`).

use super::reader::Reader;
use super::AppEnv;

/// Which cross-origin callers may read responses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CorsOrigins {
    /// Exact origins (`scheme://host[:port]`).
    List(Vec<String>),
    /// `*`: any origin, without credentials (refused in production).
    Any,
}

impl Reader<'_> {
    pub(super) fn cors(&mut self, env: AppEnv) -> CorsOrigins {
        let entries: Vec<String> = self
            .list("CORS_ALLOWED_ORIGINS")
            .into_iter()
            .map(str::to_owned)
            .collect();
        if entries.iter().any(|origin| origin == "*") {
            if env == AppEnv::Production {
                self.problem("CORS_ALLOWED_ORIGINS must list exact origins in production, not `*`".into());
            }
            if entries.len() > 1 {
                self.problem("CORS_ALLOWED_ORIGINS: `*` cannot be combined with other origins".into());
            }
            return CorsOrigins::Any;
        }
        for origin in &entries {
            if !is_origin(origin) {
                self.problem(format!(
                    "CORS_ALLOWED_ORIGINS: {origin:?} is not an origin (scheme://host[:port], no path or trailing slash)"
                ));
            }
        }
        CorsOrigins::List(entries)
    }
}

fn is_origin(origin: &str) -> bool {
    let Some((scheme, rest)) = origin.split_once("://") else {
        return false;
    };
    matches!(scheme, "http" | "https") && !rest.is_empty() && !rest.contains(['/', '?', '#', '@', ' '])
}

#[cfg(test)]
mod tests {
    use super::super::test_support::{session, vars, JWT};
    use super::super::Settings;
    use super::*;

    #[test]
    fn cors_origins_must_be_exact() {
        let session = session();
        let ok = Settings::from_vars(&vars(&[
            ("JWT_SECRET", JWT),
            ("SESSION_SECRET", &session),
            (
                "CORS_ALLOWED_ORIGINS",
                "https://app.example.com, http://localhost:3000",
            ),
        ]))
        .unwrap();
        assert_eq!(
            ok.cors_allowed_origins,
            CorsOrigins::List(vec![
                "https://app.example.com".into(),
                "http://localhost:3000".into()
            ])
        );
        let bad = Settings::from_vars(&vars(&[
            ("JWT_SECRET", JWT),
            ("SESSION_SECRET", &session),
            (
                "CORS_ALLOWED_ORIGINS",
                "https://app.example.com/,example.com,ftp://files.example.com",
            ),
        ]))
        .unwrap_err();
        assert_eq!(bad.0.len(), 3, "{bad}");
        let any = Settings::from_vars(&vars(&[
            ("JWT_SECRET", JWT),
            ("SESSION_SECRET", &session),
            ("CORS_ALLOWED_ORIGINS", "*"),
        ]))
        .unwrap();
        assert_eq!(any.cors_allowed_origins, CorsOrigins::Any);
    }
}
