//! Validated value types of tasks, users and settings.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::error::ValueError;

/// Checks that `text` has at most `max` characters (Unicode scalar values).
pub(crate) fn check_max_chars(text: &str, max: usize) -> Result<(), ValueError> {
    let actual = text.chars().count();
    if actual > max {
        return Err(ValueError::TooLong { max, actual });
    }
    Ok(())
}

/// Rejects the first control character in `text` that is not in `allowed`.
pub(crate) fn reject_control_characters(text: &str, allowed: &[char]) -> Result<(), ValueError> {
    let invalid = text
        .chars()
        .find(|character| character.is_control() && !allowed.contains(character));
    match invalid {
        Some(character) => Err(ValueError::InvalidCharacters { character }),
        None => Ok(()),
    }
}

/// Checks that `value` lies in `min..=max`.
fn check_range(value: i64, min: i64, max: i64) -> Result<(), ValueError> {
    if value < min || value > max {
        return Err(ValueError::OutOfRange {
            min,
            max,
            actual: value,
        });
    }
    Ok(())
}

/// Implements `as_str`, `Display`, `TryFrom<String>` and `From<Self> for String`
/// for a validated text newtype whose constructor is `new(&str)`.
macro_rules! text_value {
    ($name:ident) => {
        impl $name {
            /// Returns the validated text.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
                formatter.write_str(&self.0)
            }
        }

        impl TryFrom<String> for $name {
            type Error = ValueError;

            fn try_from(value: String) -> Result<Self, Self::Error> {
                Self::new(&value)
            }
        }

        impl From<$name> for String {
            fn from(value: $name) -> Self {
                value.0
            }
        }
    };
}

/// Title of a task.
///
/// Invariant: trimmed, 1 to 200 characters (Unicode scalar values) and no
/// control characters.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Title(String);

impl Title {
    /// Maximum length in characters after trimming.
    pub const MAX_CHARS: usize = 200;

    /// Trims and validates a task title.
    ///
    /// # Errors
    /// [`ValueError::TooShort`] when blank, [`ValueError::TooLong`] above 200
    /// characters and [`ValueError::InvalidCharacters`] for a control character.
    pub fn new(value: &str) -> Result<Self, ValueError> {
        trimmed_line(value, Self::MAX_CHARS).map(Self)
    }
}

text_value!(Title);

/// Free-form notes of a task, possibly empty.
///
/// Invariant: at most 5000 characters, and the only control characters are line
/// feed, carriage return and tab. The text is kept untrimmed because leading
/// whitespace can be meaningful, for example in an indented list.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Notes(String);

impl Notes {
    /// Maximum length in characters.
    pub const MAX_CHARS: usize = 5000;

    /// Validates task notes.
    ///
    /// # Errors
    /// [`ValueError::TooLong`] above 5000 characters and
    /// [`ValueError::InvalidCharacters`] for a control character other than
    /// `\n`, `\r` and `\t`.
    pub fn new(value: &str) -> Result<Self, ValueError> {
        check_max_chars(value, Self::MAX_CHARS)?;
        reject_control_characters(value, &['\n', '\r', '\t'])?;
        Ok(Self(value.to_owned()))
    }
}

text_value!(Notes);

/// Category of a task. Serializes as its lowercase name.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Category {
    /// Must be done first.
    Critical,
    /// Done for enjoyment.
    Fun,
    /// Matters but is not urgent.
    Important,
    /// Everything else, and the default.
    #[default]
    Normal,
}

impl Category {
    /// All categories in display order.
    pub const ALL: [Category; 4] = [Self::Critical, Self::Fun, Self::Important, Self::Normal];

    /// Parses a lowercase category name.
    ///
    /// # Errors
    /// [`ValueError::InvalidCategory`] for any other text, including other letter cases.
    pub fn parse(value: &str) -> Result<Self, ValueError> {
        Self::ALL
            .into_iter()
            .find(|category| category.as_str() == value)
            .ok_or_else(|| ValueError::InvalidCategory {
                value: value.to_owned(),
            })
    }

    /// Returns the lowercase name, such as `critical`.
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::Critical => "critical",
            Self::Fun => "fun",
            Self::Important => "important",
            Self::Normal => "normal",
        }
    }
}

impl fmt::Display for Category {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str(self.as_str())
    }
}

/// Sort position of a task inside its category. Lower values come first.
///
/// Invariant: 0 to 1 000 000 000 inclusive.
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize,
)]
#[serde(try_from = "i64", into = "i64")]
pub struct Order(u32);

impl Order {
    /// Largest allowed order.
    pub const MAX: i64 = 1_000_000_000;

    /// Validates a sort position.
    ///
    /// # Errors
    /// [`ValueError::OutOfRange`] outside 0 to 1 000 000 000.
    pub fn new(value: i64) -> Result<Self, ValueError> {
        check_range(value, 0, Self::MAX)?;
        // The range check keeps the value inside u32.
        u32::try_from(value)
            .map(Self)
            .map_err(|_| ValueError::OutOfRange {
                min: 0,
                max: Self::MAX,
                actual: value,
            })
    }

    /// Returns the position.
    pub fn value(&self) -> u32 {
        self.0
    }
}

impl TryFrom<i64> for Order {
    type Error = ValueError;

    fn try_from(value: i64) -> Result<Self, Self::Error> {
        Self::new(value)
    }
}

impl From<Order> for i64 {
    fn from(order: Order) -> Self {
        i64::from(order.0)
    }
}

impl fmt::Display for Order {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, formatter)
    }
}

/// Number of open tasks the planner shows per category.
///
/// Invariant: 1 to 100 inclusive. The default is 3.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "i64", into = "i64")]
pub struct TasksPerCategory(u8);

impl TasksPerCategory {
    /// Smallest allowed value.
    pub const MIN: i64 = 1;
    /// Largest allowed value.
    pub const MAX: i64 = 100;

    /// Validates a per-category task count.
    ///
    /// # Errors
    /// [`ValueError::OutOfRange`] outside 1 to 100.
    pub fn new(value: i64) -> Result<Self, ValueError> {
        check_range(value, Self::MIN, Self::MAX)?;
        u8::try_from(value)
            .map(Self)
            .map_err(|_| ValueError::OutOfRange {
                min: Self::MIN,
                max: Self::MAX,
                actual: value,
            })
    }

    /// Returns the count.
    pub fn value(&self) -> u8 {
        self.0
    }
}

impl Default for TasksPerCategory {
    fn default() -> Self {
        Self(3)
    }
}

impl TryFrom<i64> for TasksPerCategory {
    type Error = ValueError;

    fn try_from(value: i64) -> Result<Self, Self::Error> {
        Self::new(value)
    }
}

impl From<TasksPerCategory> for i64 {
    fn from(count: TasksPerCategory) -> Self {
        i64::from(count.0)
    }
}

impl fmt::Display for TasksPerCategory {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, formatter)
    }
}

/// Name that the planner shows for a user.
///
/// Invariant: trimmed, 1 to 200 characters and no control characters. A blank
/// name is rejected because the absence of a name is `Option::None`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct DisplayName(String);

impl DisplayName {
    /// Maximum length in characters after trimming.
    pub const MAX_CHARS: usize = 200;

    /// Trims and validates a display name.
    ///
    /// # Errors
    /// [`ValueError::TooShort`] when blank, [`ValueError::TooLong`] above 200
    /// characters and [`ValueError::InvalidCharacters`] for a control character.
    pub fn new(value: &str) -> Result<Self, ValueError> {
        trimmed_line(value, Self::MAX_CHARS).map(Self)
    }
}

text_value!(DisplayName);

/// Email address of a user, checked only for shape.
///
/// Invariant: 1 to 320 characters, exactly one `@` with text on both sides, and
/// no whitespace or control characters. The address is not trimmed, lowercased
/// or checked for deliverability.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Email(String);

impl Email {
    /// Maximum length in characters.
    pub const MAX_CHARS: usize = 320;

    /// Validates the shape of an email address.
    ///
    /// # Errors
    /// [`ValueError::TooShort`] when empty, [`ValueError::TooLong`] above 320
    /// characters and [`ValueError::InvalidEmail`] for any other shape problem.
    pub fn new(value: &str) -> Result<Self, ValueError> {
        if value.is_empty() {
            return Err(ValueError::TooShort);
        }
        check_max_chars(value, Self::MAX_CHARS)?;
        let has_blank = value
            .chars()
            .any(|character| character.is_whitespace() || character.is_control());
        let valid_parts = match value.split_once('@') {
            Some((local, domain)) => {
                !local.is_empty() && !domain.is_empty() && !domain.contains('@')
            }
            None => false,
        };
        if has_blank || !valid_parts {
            return Err(ValueError::InvalidEmail);
        }
        Ok(Self(value.to_owned()))
    }
}

text_value!(Email);

/// Trims a one-line text and checks it is non-blank, at most `max_chars`
/// characters long and free of control characters.
fn trimmed_line(value: &str, max_chars: usize) -> Result<String, ValueError> {
    let trimmed = value.trim();
    if trimmed.is_empty() {
        return Err(ValueError::TooShort);
    }
    check_max_chars(trimmed, max_chars)?;
    reject_control_characters(trimmed, &[])?;
    Ok(trimmed.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn title_is_trimmed() {
        assert_eq!(Title::new("  Buy milk \n").unwrap().as_str(), "Buy milk");
    }

    #[test]
    fn title_length_counts_characters_not_bytes() {
        assert!(Title::new(&"é".repeat(200)).is_ok());
        assert_eq!(
            Title::new(&"é".repeat(201)),
            Err(ValueError::TooLong {
                max: 200,
                actual: 201
            })
        );
    }

    #[test]
    fn title_rejects_blank_and_control() {
        assert_eq!(Title::new("   "), Err(ValueError::TooShort));
        assert_eq!(Title::new(""), Err(ValueError::TooShort));
        assert_eq!(
            Title::new("a\tb"),
            Err(ValueError::InvalidCharacters { character: '\t' })
        );
    }

    #[test]
    fn notes_allow_empty_and_line_breaks() {
        assert_eq!(Notes::new("").unwrap().as_str(), "");
        assert_eq!(Notes::new(" a\r\n\tb").unwrap().as_str(), " a\r\n\tb");
    }

    #[test]
    fn notes_reject_other_control_and_length() {
        assert_eq!(
            Notes::new("a\u{1b}b"),
            Err(ValueError::InvalidCharacters {
                character: '\u{1b}'
            })
        );
        assert!(Notes::new(&"n".repeat(5000)).is_ok());
        assert_eq!(
            Notes::new(&"n".repeat(5001)).map_err(|error| error.rule()),
            Err("too-long")
        );
    }

    #[test]
    fn category_parses_lowercase_names() {
        for category in Category::ALL {
            assert_eq!(Category::parse(category.as_str()), Ok(category));
        }
        assert_eq!(Category::default(), Category::Normal);
        assert_eq!(
            Category::parse("Critical"),
            Err(ValueError::InvalidCategory {
                value: "Critical".to_owned()
            })
        );
    }

    #[test]
    fn category_serializes_lowercase() {
        let json = serde_json::to_value(Category::Important).unwrap();
        assert_eq!(json, serde_json::json!("important"));
    }

    #[test]
    fn order_range_is_inclusive() {
        assert_eq!(Order::new(0).unwrap().value(), 0);
        assert_eq!(Order::new(1_000_000_000).unwrap().value(), 1_000_000_000);
        assert_eq!(
            Order::new(-1),
            Err(ValueError::OutOfRange {
                min: 0,
                max: 1_000_000_000,
                actual: -1
            })
        );
        assert_eq!(
            Order::new(1_000_000_001).map_err(|error| error.rule()),
            Err("out-of-range")
        );
    }

    #[test]
    fn tasks_per_category_range_and_default() {
        assert_eq!(TasksPerCategory::default().value(), 3);
        assert!(TasksPerCategory::new(1).is_ok());
        assert!(TasksPerCategory::new(100).is_ok());
        assert_eq!(
            TasksPerCategory::new(0).map_err(|error| error.rule()),
            Err("out-of-range")
        );
        assert_eq!(
            TasksPerCategory::new(101).map_err(|error| error.rule()),
            Err("out-of-range")
        );
    }

    #[test]
    fn display_name_is_trimmed_and_bounded() {
        assert_eq!(DisplayName::new(" Ada ").unwrap().as_str(), "Ada");
        assert_eq!(DisplayName::new(" "), Err(ValueError::TooShort));
        assert!(DisplayName::new(&"a".repeat(200)).is_ok());
        assert_eq!(
            DisplayName::new(&"a".repeat(201)).map_err(|error| error.rule()),
            Err("too-long")
        );
        assert_eq!(
            DisplayName::new("a\u{7f}").map_err(|error| error.rule()),
            Err("invalid-characters")
        );
    }

    #[test]
    fn email_accepts_simple_address() {
        assert_eq!(
            Email::new("ada@example.org").unwrap().as_str(),
            "ada@example.org"
        );
    }

    #[test]
    fn email_rejects_bad_shapes() {
        for raw in [
            "ada",
            "@example.org",
            "ada@",
            "a@b@c",
            "ada @example.org",
            "ada@example.org ",
            "ada@exa\u{1}mple.org",
        ] {
            assert_eq!(
                Email::new(raw),
                Err(ValueError::InvalidEmail),
                "email {raw:?}"
            );
        }
        assert_eq!(Email::new(""), Err(ValueError::TooShort));
        let long = format!("{}@example.org", "a".repeat(320));
        assert_eq!(
            Email::new(&long).map_err(|error| error.rule()),
            Err("too-long")
        );
    }

    #[test]
    fn deserialize_validates_values() {
        let title: Result<Title, _> = serde_json::from_value(serde_json::json!("  "));
        assert!(title.is_err());
        let order: Result<Order, _> = serde_json::from_value(serde_json::json!(-5));
        assert!(order.is_err());
    }
}
