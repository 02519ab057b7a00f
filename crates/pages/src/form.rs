//! A posted HTML form: `application/x-www-form-urlencoded` pairs, where a checkbox list repeats its
//! name (which `web::Form` cannot read into a list).

/// The fields of one posted form, in order.
pub struct Form(Vec<(String, String)>);

impl Form {
    /// Reads the urlencoded body (malformed escapes are decoded leniently, as browsers send none). A
    /// NUL, which no field may hold and PostgreSQL cannot store, becomes U+FFFD, so the field's own
    /// rules refuse it instead of the database.
    pub fn parse(body: &[u8]) -> Form {
        Form(
            url::form_urlencoded::parse(body)
                .map(|(k, v)| (k.replace('\0', "\u{FFFD}"), v.replace('\0', "\u{FFFD}")))
                .collect(),
        )
    }

    /// The first value of `name`.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
    }

    /// The value of `name`, empty when absent.
    pub fn text(&self, name: &str) -> String {
        self.get(name).unwrap_or_default().to_owned()
    }

    /// The value of `name` when present and not blank.
    pub fn optional(&self, name: &str) -> Option<String> {
        self.get(name).filter(|v| !v.trim().is_empty()).map(str::to_owned)
    }

    /// Every value of `name` (a checkbox list).
    pub fn all(&self, name: &str) -> Vec<String> {
        self.0
            .iter()
            .filter(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repeated_names_are_a_list_and_escapes_are_decoded() {
        let form = Form::parse(b"scopes=a%3Ab&scopes=c&name=x+y&empty=");
        assert_eq!(form.all("scopes"), ["a:b", "c"]);
        assert_eq!(form.get("name"), Some("x y"));
        assert_eq!(form.optional("empty"), None);
        assert_eq!(form.text("missing"), "");
        assert_eq!(Form::parse(b"email=a%00b").text("email"), "a\u{FFFD}b");
    }
}
