//! Error types of the domain: invalid values, command violations and rejections.

use std::fmt;

use thiserror::Error;

/// Stable rule names of [`Violation::rule`].
pub mod rule {
    /// A value has the wrong JSON type, or the command is not an object.
    pub const INVALID_TYPE: &str = "invalid-type";
    /// A required field is missing or null.
    pub const REQUIRED: &str = "required";
    /// A field is not part of the command.
    pub const UNKNOWN_FIELD: &str = "unknown-field";
    /// A text is longer than allowed.
    pub const TOO_LONG: &str = "too-long";
    /// A text is empty or blank.
    pub const TOO_SHORT: &str = "too-short";
    /// A number lies outside its allowed range.
    pub const OUT_OF_RANGE: &str = "out-of-range";
    /// A number has a fraction where a whole number is required.
    pub const NOT_INTEGER: &str = "not-integer";
    /// A category is not one of the known names.
    pub const INVALID_CATEGORY: &str = "invalid-category";
    /// A task id is not a UUID.
    pub const INVALID_UUID: &str = "invalid-uuid";
    /// A text contains a character that is not allowed.
    pub const INVALID_CHARACTERS: &str = "invalid-characters";
    /// An email address has the wrong shape.
    pub const INVALID_EMAIL: &str = "invalid-email";
    /// `entityType` names no known entity.
    pub const UNKNOWN_ENTITY_TYPE: &str = "unknown-entity-type";
    /// `type` names no command of the given entity type.
    pub const UNKNOWN_COMMAND_TYPE: &str = "unknown-command-type";
    /// An update command contains no field to change.
    pub const EMPTY_UPDATE: &str = "empty-update";
}

/// Reason why a raw value failed validation in a value constructor.
///
/// Each variant maps to one stable rule name through [`ValueError::rule`], so the
/// command parser and the stored-event decoder report invalid values in the same words.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("value {}. {}", self.requirement(), self.fix())]
pub enum ValueError {
    /// The value is empty, or blank after trimming.
    TooShort,
    /// The value has more characters (Unicode scalar values) than allowed.
    TooLong {
        /// Maximum number of characters.
        max: usize,
        /// Number of characters in the rejected value.
        actual: usize,
    },
    /// The value contains a character that is not allowed, such as a control character.
    InvalidCharacters {
        /// First character in the value that is not allowed.
        character: char,
    },
    /// The integer lies outside the allowed inclusive range.
    OutOfRange {
        /// Smallest allowed value.
        min: i64,
        /// Largest allowed value.
        max: i64,
        /// Rejected value.
        actual: i64,
    },
    /// The value is not an email address with one `@`, text on both sides and no whitespace.
    InvalidEmail,
    /// The value is not one of the category names.
    InvalidCategory {
        /// Rejected value.
        value: String,
    },
    /// The value is not a UUID.
    InvalidUuid {
        /// Rejected value.
        value: String,
    },
}

impl ValueError {
    /// Returns the stable kebab-case rule name, such as `too-long`.
    pub fn rule(&self) -> &'static str {
        match self {
            Self::TooShort => rule::TOO_SHORT,
            Self::TooLong { .. } => rule::TOO_LONG,
            Self::InvalidCharacters { .. } => rule::INVALID_CHARACTERS,
            Self::OutOfRange { .. } => rule::OUT_OF_RANGE,
            Self::InvalidEmail => rule::INVALID_EMAIL,
            Self::InvalidCategory { .. } => rule::INVALID_CATEGORY,
            Self::InvalidUuid { .. } => rule::INVALID_UUID,
        }
    }

    /// Describes what the value must be, without a subject, such as
    /// `must be at most 200 characters but has 250`.
    pub fn requirement(&self) -> String {
        match self {
            Self::TooShort => "must not be empty or blank".to_owned(),
            Self::TooLong { max, actual } => {
                format!("must be at most {max} characters but has {actual}")
            }
            Self::InvalidCharacters { character } => format!(
                "must not contain the character U+{:04X}",
                u32::from(*character)
            ),
            Self::OutOfRange { min, max, actual } => {
                format!("must be between {min} and {max} but is {actual}")
            }
            Self::InvalidEmail => {
                "must be an email address with exactly one @, text on both sides \
                 and no whitespace"
                    .to_owned()
            }
            Self::InvalidCategory { value } => {
                format!("must be one of critical, fun, important or normal but is {value:?}")
            }
            Self::InvalidUuid { value } => format!("must be a UUID but is {value:?}"),
        }
    }

    /// Returns the sentence with the fix for the caller, such as `Shorten it.`
    pub fn fix(&self) -> &'static str {
        match self {
            Self::TooShort => "Provide at least one visible character.",
            Self::TooLong { .. } => "Shorten it.",
            Self::InvalidCharacters { .. } => "Remove the character.",
            Self::OutOfRange { .. } => "Use a value inside the range.",
            Self::InvalidEmail => "Correct the address.",
            Self::InvalidCategory { .. } => "Use one of the listed categories.",
            Self::InvalidUuid { .. } => {
                "Use a hyphenated UUID such as 67e55044-10b1-426f-9247-bb680e5fe0c8."
            }
        }
    }
}

/// One problem with a raw command, reported to the caller.
///
/// A command can have several violations, and the parser reports all of them.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("{message}")]
pub struct Violation {
    /// JSON path of the value inside the command, such as `type` or `data.title`.
    /// The empty path names the whole command.
    pub field: String,
    /// Stable kebab-case rule name, such as `required` or `too-long`.
    pub rule: &'static str,
    /// Client-safe sentence that names the field, the broken rule and the fix.
    pub message: String,
}

impl Violation {
    /// Builds a violation of `rule` on `field` with a complete `message`.
    pub fn new(field: impl Into<String>, rule: &'static str, message: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            rule,
            message: message.into(),
        }
    }

    /// Builds the violation for a value of `field` that a value constructor rejected.
    pub fn from_value_error(field: &str, error: &ValueError) -> Self {
        let message = format!("{field} {}. {}", error.requirement(), error.fix());
        Self::new(field, error.rule(), message)
    }
}

/// A well-formed command that the current state of its aggregate does not allow.
///
/// The message is safe to show to the caller.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("{message}")]
pub struct Rejection {
    /// Stable kebab-case reason, such as `task-not-found`.
    pub code: &'static str,
    /// Client-safe sentence with the reason for the rejection and the next step.
    pub message: String,
}

impl Rejection {
    /// Builds a rejection with a stable `code` and a client-safe `message`.
    pub fn new(code: &'static str, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
        }
    }
}

/// Error from [`crate::StreamId::parse`] for a key that names no stream.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("stream key {key:?} is invalid. Use \"user\" or \"task-\" followed by a UUID.")]
pub struct StreamKeyError {
    /// Rejected key.
    pub key: String,
}

/// Formats a JSON value kind for messages, such as `a number` or `null`.
pub(crate) struct JsonKind<'a>(pub(crate) &'a serde_json::Value);

impl fmt::Display for JsonKind<'_> {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        let kind = match self.0 {
            serde_json::Value::Null => "null",
            serde_json::Value::Bool(_) => "a boolean",
            serde_json::Value::Number(_) => "a number",
            serde_json::Value::String(_) => "a string",
            serde_json::Value::Array(_) => "an array",
            serde_json::Value::Object(_) => "an object",
        };
        formatter.write_str(kind)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn value_error_display_names_requirement_and_fix() {
        let error = ValueError::TooLong {
            max: 200,
            actual: 250,
        };
        assert_eq!(
            error.to_string(),
            "value must be at most 200 characters but has 250. Shorten it."
        );
    }

    #[test]
    fn violation_from_value_error_names_field() {
        let violation = Violation::from_value_error("data.title", &ValueError::TooShort);
        assert_eq!(violation.field, "data.title");
        assert_eq!(violation.rule, "too-short");
        assert_eq!(
            violation.message,
            "data.title must not be empty or blank. Provide at least one visible character."
        );
    }

    #[test]
    fn control_character_is_shown_as_code_point() {
        let error = ValueError::InvalidCharacters { character: '\u{7}' };
        assert!(error.requirement().contains("U+0007"));
    }
}
