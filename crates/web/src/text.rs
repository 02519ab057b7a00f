//! Human-readable text fields: one rule for every name (display name, tenant, project and API-key
//! names) and every description (projects, roles), with the same codes everywhere.
//!
//! - **Names** are one line: not blank once trimmed (`blank`), at most `max` characters (`too_long`,
//!   counted as Unicode scalar values, before trimming, as JSON Schema's `maxLength` counts), and
//!   without control characters, line or paragraph separators, or invisible formatting characters
//!   (`invalid_characters`).
//! - **Descriptions** may be empty and span lines: tab, line feed and carriage return (which HTML
//!   forms send) are allowed; other control characters and invisible formatting characters are not.
//!
//! "Invisible formatting characters" are Unicode's default-ignorable code points (zero-width spaces,
//! bidi overrides, soft hyphens, Hangul fillers, tag characters …), as for email addresses, except
//! those that shape visible text: the zero-width non-joiner and joiner (Persian and Indic scripts,
//! emoji sequences such as 👩‍💻) and the variation selectors (❤️). A refused value is refused, not
//! cleaned, so what is stored is what the client sent (trimmed).
//!
//! The OpenAPI `pattern` of each field is generated from the same predicate ([`TextRule::pattern`]),
//! so the document and the server cannot disagree. Characters outside the Basic Multilingual Plane
//! appear in the pattern as themselves rather than as an escape: JSON Schema 2020-12 reads patterns
//! with Unicode semantics, and no escape for them is read alike by ECMA-262, Python and Rust.

use std::borrow::Cow;
use std::fmt::Write as _;
use std::ops::RangeInclusive;

use icu_properties::props::DefaultIgnorableCodePoint;
use icu_properties::CodePointSetData;
use utoipa::openapi::schema::{Object, ObjectBuilder, SchemaType, Type};
use validator::ValidationError;

/// What a field holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Shape {
    /// One line, not blank.
    Name,
    /// Free text, possibly empty, possibly several lines.
    Description,
}

/// The rule of one text field: its shape and its maximum length.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TextRule {
    shape: Shape,
    max: usize,
}

/// Default-ignorable code points that are part of how visible text is written, and so allowed:
/// ZWNJ and ZWJ, and the variation selectors (Mongolian, standard and supplementary).
const SHAPING: [RangeInclusive<u32>; 5] = [
    0x180B..=0x180D,
    0x180F..=0x180F,
    0x200C..=0x200D,
    0xFE00..=0xFE0F,
    0xE0100..=0xE01EF,
];

/// Line and paragraph separators: line breaks that are not control characters.
const SEPARATORS: RangeInclusive<u32> = 0x2028..=0x2029;

/// Unicode `White_Space` minus the control characters, minus the separators: what trimming removes
/// from a name that may stay inside it. A unit test checks it against `char::is_whitespace`.
const SPACES: [RangeInclusive<u32>; 7] = [
    0x0020..=0x0020,
    0x00A0..=0x00A0,
    0x1680..=0x1680,
    0x2000..=0x200A,
    0x202F..=0x202F,
    0x205F..=0x205F,
    0x3000..=0x3000,
];

/// Whether a character is one of Unicode's default-ignorable code points: invisible when rendered
/// (zero-width characters, bidi controls, soft hyphen, variation selectors, tags, …).
pub(crate) fn is_default_ignorable(c: char) -> bool {
    CodePointSetData::new::<DefaultIgnorableCodePoint>().contains(c)
}

fn in_any(c: u32, ranges: &[RangeInclusive<u32>]) -> bool {
    ranges.iter().any(|range| range.contains(&c))
}

impl TextRule {
    /// A one-line name of at most `max` characters.
    pub const fn name(max: usize) -> TextRule {
        TextRule {
            shape: Shape::Name,
            max,
        }
    }

    /// A description of at most `max` characters: may be empty, may span lines.
    pub const fn description(max: usize) -> TextRule {
        TextRule {
            shape: Shape::Description,
            max,
        }
    }

    /// The longest value accepted, in characters.
    pub const fn max(&self) -> usize {
        self.max
    }

    /// Whether the rule refuses this character anywhere in a value.
    fn refuses(&self, c: char) -> bool {
        let line_breaks_allowed = self.shape == Shape::Description && matches!(c, '\t' | '\n' | '\r');
        let control = c.is_control() && !line_breaks_allowed;
        let separator = self.shape == Shape::Name && SEPARATORS.contains(&u32::from(c));
        let invisible = is_default_ignorable(c) && !in_any(u32::from(c), &SHAPING);
        control || separator || invisible
    }

    /// Checks a value: `blank`, `too_long` or `invalid_characters`, in that order.
    pub fn check(&self, value: &str) -> Result<(), ValidationError> {
        let error = |code: &'static str, message: Cow<'static, str>| {
            Err(ValidationError::new(code).with_message(message))
        };
        if self.shape == Shape::Name && value.trim().is_empty() {
            return error("blank", "must not be blank".into());
        }
        if value.chars().count() > self.max {
            return error(
                "too_long",
                format!("must be at most {} characters", self.max).into(),
            );
        }
        if value.chars().any(|c| self.refuses(c)) {
            let message = match self.shape {
                Shape::Name => "must not contain control, line-breaking or invisible characters",
                Shape::Description => {
                    "must not contain control characters other than tab and line breaks, or invisible characters"
                }
            };
            return error("invalid_characters", message.into());
        }
        Ok(())
    }

    /// The code points the rule refuses, as sorted, merged ranges.
    fn refused_ranges(&self) -> Vec<RangeInclusive<u32>> {
        // Every refused character is a control character, a separator or default-ignorable, so only
        // those candidates (a few thousand code points) need asking.
        let mut candidates: Vec<RangeInclusive<u32>> = vec![0x00..=0x1F, 0x7F..=0x9F, SEPARATORS];
        candidates.extend(
            CodePointSetData::new::<DefaultIgnorableCodePoint>()
                .iter_ranges()
                .collect::<Vec<_>>(),
        );
        let mut refused: Vec<u32> = candidates
            .into_iter()
            .flatten()
            .filter(|&code| char::from_u32(code).is_some_and(|c| self.refuses(c)))
            .collect();
        refused.sort_unstable();
        refused.dedup();
        let mut ranges: Vec<RangeInclusive<u32>> = Vec::new();
        for code in refused {
            match ranges.last_mut() {
                Some(last) if *last.end() + 1 == code => *last = *last.start()..=code,
                _ => ranges.push(code..=code),
            }
        }
        ranges
    }

    /// The ECMA-262 pattern (JSON Schema 2020-12) that matches exactly the values [`Self::check`]
    /// accepts, apart from the length, which `maxLength` states.
    pub fn pattern(&self) -> String {
        let refused = class_items(&self.refused_ranges());
        match self.shape {
            Shape::Name => {
                let spaces = class_items(&SPACES);
                format!("^[^{refused}]*[^{refused}{spaces}][^{refused}]*$")
            }
            Shape::Description => format!("^[^{refused}]*$"),
        }
    }

    /// The OpenAPI schema of a required field with this rule.
    pub fn schema(&self) -> Object {
        self.schema_builder(Type::String).build()
    }

    /// The OpenAPI schema of a field with this rule that may be `null`.
    pub fn nullable_schema(&self) -> Object {
        self.schema_builder(SchemaType::from_iter([Type::String, Type::Null]))
            .build()
    }

    fn schema_builder(&self, schema_type: impl Into<SchemaType>) -> ObjectBuilder {
        let min_length = (self.shape == Shape::Name).then_some(1);
        ObjectBuilder::new()
            .schema_type(schema_type)
            .min_length(min_length)
            .max_length(Some(self.max))
            .pattern(Some(self.pattern()))
    }
}

/// Ranges as the inside of a character class: `\uXXXX` escapes in the Basic Multilingual Plane, the
/// characters themselves beyond it (see the module documentation).
fn class_items(ranges: &[RangeInclusive<u32>]) -> String {
    let one = |code: u32| match char::from_u32(code) {
        Some(c) if code > 0xFFFF => c.to_string(),
        _ => format!("\\u{code:04x}"),
    };
    let mut out = String::new();
    for range in ranges {
        let (start, end) = (*range.start(), *range.end());
        if start == end {
            out.push_str(&one(start));
        } else {
            let _ = write!(out, "{}-{}", one(start), one(end));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const NAME: TextRule = TextRule::name(10);
    const DESCRIPTION: TextRule = TextRule::description(10);

    fn code(rule: TextRule, value: &str) -> Option<String> {
        rule.check(value).err().map(|e| e.code.into_owned())
    }

    #[test]
    fn names_are_non_blank_short_single_lines_of_visible_text() {
        for fine in [
            "Apollo",
            "  Apollo ",
            "Ünïcödé",
            "日本語の名前",
            "👩\u{200d}💻 ops",
            "\u{2764}\u{fe0f} love",
            "می\u{200c}خواهم",
            "a\u{a0}b",
        ] {
            assert_eq!(code(NAME, fine), None, "{fine:?}");
        }
        for (value, expected) in [
            ("", "blank"),
            ("   ", "blank"),
            ("\u{3000}\u{a0}", "blank"),
            ("\t\n", "blank"),
            ("abcdefghijk", "too_long"),
            ("Build \u{7}", "invalid_characters"),
            ("\u{1b}[31mred", "invalid_characters"),
            ("a\nb", "invalid_characters"),
            ("a\tb", "invalid_characters"),
            ("a\u{85}b", "invalid_characters"),
            ("a\u{2028}b", "invalid_characters"),
            ("zero\u{200b}w", "invalid_characters"),
            ("rtl\u{202e}x", "invalid_characters"),
            ("\u{feff}bom", "invalid_characters"),
            ("soft\u{ad}", "invalid_characters"),
            ("\u{3164}", "invalid_characters"),
            ("tag\u{e0041}", "invalid_characters"),
        ] {
            assert_eq!(code(NAME, value).as_deref(), Some(expected), "{value:?}");
        }
        assert_eq!(code(NAME, "ab\u{7}cdefghijk").as_deref(), Some("too_long"));
        assert_eq!(code(NAME, &"é".repeat(10)), None, "characters, not bytes");
    }

    #[test]
    fn descriptions_may_be_empty_and_span_lines() {
        for fine in ["", "   ", "one\ntwo", "a\r\nb\tc"] {
            assert_eq!(code(DESCRIPTION, fine), None, "{fine:?}");
        }
        for value in ["\u{1b}[31m", "a\u{0}", "a\u{b}b", "x\u{200b}", "x\u{2066}"] {
            assert_eq!(
                code(DESCRIPTION, value).as_deref(),
                Some("invalid_characters"),
                "{value:?}"
            );
        }
        assert_eq!(code(DESCRIPTION, "abcdefghijk").as_deref(), Some("too_long"));
    }

    #[test]
    fn the_spaces_are_exactly_the_white_space_names_may_hold() {
        for code in 0..=0x10FFFF_u32 {
            let Some(c) = char::from_u32(code) else { continue };
            let listed = in_any(code, &SPACES);
            assert_eq!(listed, c.is_whitespace() && !NAME.refuses(c), "U+{code:04X}");
        }
    }

    /// The pattern, read by the `regex` crate (as the validators of OpenAPI tools read it), accepts
    /// a value exactly when the rule does: every code point alone, and each one that is white space
    /// or refused alone also around a visible character.
    #[test]
    fn the_openapi_pattern_says_what_the_check_does() {
        for rule in [NAME, DESCRIPTION] {
            let pattern = regex::Regex::new(&rule.pattern()).unwrap();
            let agree = |value: &str| {
                assert_eq!(
                    pattern.is_match(value),
                    rule.check(value).is_ok(),
                    "{rule:?} {value:?}"
                );
            };
            for code in 0..=0x10FFFF_u32 {
                let Some(c) = char::from_u32(code) else { continue };
                let alone = c.to_string();
                agree(&alone);
                if c.is_whitespace() || rule.check(&alone).is_err() {
                    agree(&format!("{c}a{c}"));
                }
            }
        }
    }

    #[test]
    fn the_pattern_escapes_the_basic_plane() {
        let pattern = NAME.pattern();
        assert!(
            pattern.starts_with("^[^\\u0000-\\u001f\\u007f-\\u009f\\u00ad"),
            "{pattern}"
        );
        assert!(
            !pattern
                .chars()
                .any(|c| c.is_control() || (is_default_ignorable(c) && u32::from(c) <= 0xFFFF)),
            "only characters beyond the BMP appear as themselves: {pattern}"
        );
    }
}
