//! Reading variables and collecting problems: every check records what is wrong and carries on, so
//! one start-up reports every problem at once.

use std::collections::HashMap;
use std::fmt;
use std::time::Duration;

/// Every configuration problem found, one per line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigErrors(pub Vec<String>);

impl fmt::Display for ConfigErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "invalid configuration ({} problem{}):",
            self.0.len(),
            if self.0.len() == 1 { "" } else { "s" }
        )?;
        for problem in &self.0 {
            writeln!(f, "  - {problem}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ConfigErrors {}

/// The variables being read and the problems found so far. Each area of the configuration adds its
/// own `impl Reader` block in its own file.
pub(super) struct Reader<'a> {
    vars: &'a HashMap<String, String>,
    problems: Vec<String>,
}

impl<'a> Reader<'a> {
    pub(super) fn new(vars: &'a HashMap<String, String>) -> Reader<'a> {
        Reader {
            vars,
            problems: Vec::new(),
        }
    }

    /// A set, non-blank variable.
    pub(super) fn get(&self, name: &str) -> Option<&'a str> {
        let vars: &'a HashMap<String, String> = self.vars;
        vars.get(name).map(|v| v.trim()).filter(|v| !v.is_empty())
    }

    pub(super) fn problem(&mut self, problem: String) {
        self.problems.push(problem);
    }

    /// Whether nothing is wrong so far.
    pub(super) fn is_clean(&self) -> bool {
        self.problems.is_empty()
    }

    /// Everything found, for the error answer.
    pub(super) fn into_errors(self) -> ConfigErrors {
        ConfigErrors(self.problems)
    }

    pub(super) fn parse<T: std::str::FromStr>(
        &mut self,
        name: &str,
        default: Option<T>,
        expected: &str,
    ) -> Option<T> {
        match self.get(name) {
            None => default,
            Some(raw) => match raw.parse() {
                Ok(value) => Some(value),
                Err(_) => {
                    self.problem(format!("{name} must be {expected}, not {raw:?}"));
                    None
                }
            },
        }
    }

    pub(super) fn seconds(&mut self, name: &str, default: u64, min: u64) -> Option<Duration> {
        let value = self.parse(name, Some(default), "a whole number of seconds")?;
        if value < min {
            self.problem(format!("{name} must be at least {min}"));
            return None;
        }
        Some(Duration::from_secs(value))
    }

    /// A comma-separated list, entries trimmed, empty entries dropped.
    pub(super) fn list(&self, name: &str) -> Vec<&'a str> {
        self.get(name)
            .unwrap_or("")
            .split(',')
            .map(str::trim)
            .filter(|e| !e.is_empty())
            .collect()
    }
}

/// An absolute `http://` or `https://` URL with something after the scheme and no space.
pub(super) fn is_http_url(url: &str) -> bool {
    url.split_once("://").is_some_and(|(scheme, rest)| {
        matches!(scheme, "http" | "https") && !rest.is_empty() && !rest.contains(' ')
    })
}
