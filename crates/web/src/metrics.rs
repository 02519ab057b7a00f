//! Prometheus metrics: one recorder per server (the `metrics` crate's Prometheus recorder, not a
//! global one, so several servers in one process keep their own counts), fed by the response
//! middleware for every request and sampled for the gauges when `/metrics` is scraped.
//!
//! Labels come only from the route template the router matched (`unmatched` for a path that matched
//! none), the method, the status and our own problem codes, so no client can grow the number of series.

use std::collections::HashSet;

use metrics::{Key, KeyName, Label, Level, Metadata, Recorder, SharedString, Unit};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusRecorder};

/// The route label of a request that matched no route.
pub const UNMATCHED: &str = "unmatched";

const REQUESTS: &str = "portcullis_http_requests_total";
const DURATION: &str = "portcullis_http_request_duration_seconds";
const RATE_LIMITED: &str = "portcullis_rate_limited_total";
const SIGN_INS: &str = "portcullis_sign_in_total";
/// Requests whose rate limit was decided in memory although `REDIS_URL` is set (Redis did not answer).
pub const FALLBACKS: &str = "portcullis_rate_limit_fallbacks_total";

/// Latency buckets in seconds: from a cached read (sub-millisecond) to a queued argon2 sign-in.
const BUCKETS: [f64; 14] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

static METADATA: Metadata<'static> = Metadata::new(module_path!(), Level::INFO, Some(module_path!()));

/// The server's metrics.
pub struct Metrics {
    recorder: PrometheusRecorder,
    sign_in_routes: HashSet<String>,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Metrics")
    }
}

impl Metrics {
    /// A recorder for a server whose sign-in routes (the ones whose outcomes are counted) have these
    /// templates.
    pub fn new(sign_in_routes: impl IntoIterator<Item = String>) -> Metrics {
        let recorder = PrometheusBuilder::new()
            .set_buckets_for_metric(Matcher::Full(DURATION.into()), &BUCKETS)
            .map(PrometheusBuilder::build_recorder)
            .unwrap_or_else(|_| unreachable!("the bucket list is not empty"));
        let metrics = Metrics {
            recorder,
            sign_in_routes: sign_in_routes.into_iter().collect(),
        };
        metrics.describe_all();
        metrics
    }

    fn describe_all(&self) {
        let counters: [(&'static str, &'static str); 6] = [
            (
                FALLBACKS,
                "Rate-limit checks decided in memory because Redis did not answer",
            ),
            (
                REQUESTS,
                "Requests answered, by method, route template and status",
            ),
            (
                RATE_LIMITED,
                "Requests refused by a per-client rate limit, by route template",
            ),
            (
                SIGN_INS,
                "Sign-in attempts by route template and outcome (success or the problem code)",
            ),
            (
                "portcullis_logins_shed_total",
                "Password hashes refused because the hashing queue was full (503)",
            ),
            (
                "portcullis_db_pool_waits_total",
                "Connection checkouts that had to wait (1 ms or more), by outcome",
            ),
        ];
        for (name, help) in counters {
            self.recorder.describe_counter(
                KeyName::from_const_str(name),
                None,
                SharedString::const_str(help),
            );
        }
        self.recorder.describe_histogram(
            KeyName::from_const_str(DURATION),
            Some(Unit::Seconds),
            SharedString::const_str(
                "Time from the request head to the response, by method and route template",
            ),
        );
        let gauges: [(&'static str, &'static str); 3] = [
            (
                "portcullis_hash_queue_depth",
                "Password hashes waiting for a hashing thread",
            ),
            (
                "portcullis_db_pool_connections",
                "Database connections by state (in_use, idle)",
            ),
            (
                "portcullis_mail_outbox",
                "Mails in the outbox by state (pending, failed)",
            ),
        ];
        for (name, help) in gauges {
            self.recorder
                .describe_gauge(KeyName::from_const_str(name), None, SharedString::const_str(help));
        }
    }

    fn key(name: &'static str, labels: Vec<Label>) -> Key {
        Key::from_parts(name, labels)
    }

    /// Counts an answered request: `route` is the matched template (`None`: no route matched), `code`
    /// the problem code of an error answer.
    pub fn request(&self, method: &str, route: Option<&str>, status: u16, seconds: f64, code: Option<&str>) {
        let route = route.unwrap_or(UNMATCHED);
        let method = method_label(method);
        let labels = vec![
            Label::new("method", method.to_owned()),
            Label::new("route", route.to_owned()),
            Label::new("status", status.to_string()),
        ];
        self.recorder
            .register_counter(&Self::key(REQUESTS, labels), &METADATA)
            .increment(1);
        let labels = vec![
            Label::new("method", method.to_owned()),
            Label::new("route", route.to_owned()),
        ];
        self.recorder
            .register_histogram(&Self::key(DURATION, labels), &METADATA)
            .record(seconds);
        if code == Some("rate_limited") {
            let labels = vec![Label::new("route", route.to_owned())];
            self.recorder
                .register_counter(&Self::key(RATE_LIMITED, labels), &METADATA)
                .increment(1);
        } else if self.sign_in_routes.contains(route) {
            let outcome = match (status, code) {
                (200..=299, _) => "success".to_owned(),
                (_, Some(code)) => code.to_owned(),
                (status, None) => status.to_string(),
            };
            let labels = vec![
                Label::new("route", route.to_owned()),
                Label::new("outcome", outcome),
            ];
            self.recorder
                .register_counter(&Self::key(SIGN_INS, labels), &METADATA)
                .increment(1);
        }
    }

    /// Adds one to a counter without labels.
    pub fn total_increment(&self, name: &'static str) {
        self.recorder
            .register_counter(&Self::key(name, Vec::new()), &METADATA)
            .increment(1);
    }

    /// Sets a gauge sampled at scrape time.
    pub fn gauge(&self, name: &'static str, labels: &[(&'static str, &'static str)], value: f64) {
        let labels = labels
            .iter()
            .map(|(k, v)| Label::from_static_parts(k, v))
            .collect();
        self.recorder
            .register_gauge(&Self::key(name, labels), &METADATA)
            .set(value);
    }

    /// Sets a counter kept elsewhere (an atomic of the hasher or the pool) to its current total.
    pub fn total(&self, name: &'static str, labels: &[(&'static str, &'static str)], value: u64) {
        let labels = labels
            .iter()
            .map(|(k, v)| Label::from_static_parts(k, v))
            .collect();
        self.recorder
            .register_counter(&Self::key(name, labels), &METADATA)
            .absolute(value);
    }

    /// The Prometheus text exposition of everything recorded.
    pub fn render(&self) -> String {
        self.recorder.handle().render()
    }
}

/// The method as a label: HTTP accepts any token as a method, so anything but the standard ones is
/// `other` (a client sending `A0001`, `A0002`… would otherwise make a series each).
fn method_label(method: &str) -> &'static str {
    match method {
        "GET" => "GET",
        "HEAD" => "HEAD",
        "POST" => "POST",
        "PUT" => "PUT",
        "PATCH" => "PATCH",
        "DELETE" => "DELETE",
        "OPTIONS" => "OPTIONS",
        "CONNECT" => "CONNECT",
        "TRACE" => "TRACE",
        _ => "other",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_are_counted_by_template_with_sign_in_outcomes() {
        let metrics = Metrics::new(["/api/v1/auth/login".to_owned()]);
        metrics.request("GET", Some("/api/v1/tenants/{tid}"), 200, 0.002, None);
        metrics.request("GET", Some("/api/v1/tenants/{tid}"), 200, 0.003, None);
        metrics.request(
            "POST",
            Some("/api/v1/auth/login"),
            401,
            0.02,
            Some("invalid_credentials"),
        );
        metrics.request(
            "POST",
            Some("/api/v1/auth/login"),
            429,
            0.0001,
            Some("rate_limited"),
        );
        metrics.request("GET", None, 404, 0.0001, Some("not_found"));
        for n in 0..50 {
            metrics.request(&format!("A{n:04}"), None, 405, 0.0001, Some("method_not_allowed"));
        }
        let text = metrics.render();
        assert!(
            !text.contains("A0001"),
            "a client-chosen method became a label:\n{text}"
        );
        for line in [
            r#"portcullis_http_requests_total{method="GET",route="/api/v1/tenants/{tid}",status="200"} 2"#,
            r#"portcullis_sign_in_total{route="/api/v1/auth/login",outcome="invalid_credentials"} 1"#,
            r#"portcullis_rate_limited_total{route="/api/v1/auth/login"} 1"#,
            r#"portcullis_http_requests_total{method="GET",route="unmatched",status="404"} 1"#,
            r#"portcullis_http_requests_total{method="other",route="unmatched",status="405"} 50"#,
            r#"portcullis_http_request_duration_seconds_bucket{method="GET",route="/api/v1/tenants/{tid}",le="0.0025"} 1"#,
            r#"portcullis_http_request_duration_seconds_bucket{method="GET",route="/api/v1/tenants/{tid}",le="0.005"} 2"#,
        ] {
            assert!(text.contains(line), "{line} missing from\n{text}");
        }
    }
}
