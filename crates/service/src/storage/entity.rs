//! Table entities with string, 64-bit integer and boolean properties, their limits and
//! their JSON form on the wire.

use std::collections::BTreeMap;

use serde_json::{Map, Value};

use super::StorageError;

/// Maximum number of custom properties per entity. Azure allows 255 properties including
/// PartitionKey, RowKey and Timestamp.
pub const MAX_CUSTOM_PROPERTIES: usize = 252;

/// Maximum length of a string property in UTF-16 code units. Azure stores strings as UTF-16
/// and allows 64 KiB per string value.
pub const MAX_STRING_UTF16_UNITS: usize = 32 * 1024;

/// Maximum length of a property name in characters, as documented for Azure Tables.
const MAX_PROPERTY_NAME_CHARS: usize = 255;

/// Property names that the service manages itself.
const SYSTEM_PROPERTIES: [&str; 3] = ["PartitionKey", "RowKey", "Timestamp"];

/// Suffix of the JSON annotation that carries a property's EDM type.
const TYPE_ANNOTATION: &str = "@odata.type";

/// A value of a custom entity property.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Property {
    /// An `Edm.String` value.
    String(String),
    /// An `Edm.Int64` value. Also read from `Edm.Int32` and from plain JSON integers.
    Int(i64),
    /// An `Edm.Boolean` value.
    Bool(bool),
}

impl From<String> for Property {
    fn from(value: String) -> Self {
        Property::String(value)
    }
}

impl From<&str> for Property {
    fn from(value: &str) -> Self {
        Property::String(value.to_owned())
    }
}

impl From<i64> for Property {
    fn from(value: i64) -> Self {
        Property::Int(value)
    }
}

impl From<bool> for Property {
    fn from(value: bool) -> Self {
        Property::Bool(value)
    }
}

/// A table entity: keys, the ETag it was read with, and custom properties.
///
/// Keys must not contain `/`, `\`, `#`, `?` or control characters; use
/// [`encode_key`](super::encode_key) for arbitrary text. The limits are checked by
/// [`Entity::validate`] before every write.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entity {
    /// The PartitionKey.
    pub partition_key: String,
    /// The RowKey.
    pub row_key: String,
    /// The ETag returned by the service when the entity was read, or `None` for an entity
    /// built locally. Writes take the ETag as a separate argument and ignore this field.
    pub etag: Option<String>,
    /// Custom properties by name. Names are case-sensitive.
    pub properties: BTreeMap<String, Property>,
}

impl Entity {
    /// Creates an entity with the given keys, no properties and no ETag.
    pub fn new(partition_key: impl Into<String>, row_key: impl Into<String>) -> Self {
        Self {
            partition_key: partition_key.into(),
            row_key: row_key.into(),
            etag: None,
            properties: BTreeMap::new(),
        }
    }

    /// Sets a property and returns the entity, for building entities in one expression.
    #[must_use]
    pub fn with(mut self, name: impl Into<String>, value: impl Into<Property>) -> Self {
        self.set(name, value);
        self
    }

    /// Sets a property, replacing any previous value of that name.
    pub fn set(&mut self, name: impl Into<String>, value: impl Into<Property>) -> &mut Self {
        self.properties.insert(name.into(), value.into());
        self
    }

    /// Returns the string property `name`, or `None` if it is absent or not a string.
    pub fn string(&self, name: &str) -> Option<&str> {
        match self.properties.get(name) {
            Some(Property::String(value)) => Some(value),
            _ => None,
        }
    }

    /// Returns the integer property `name`, or `None` if it is absent or not an integer.
    pub fn int(&self, name: &str) -> Option<i64> {
        match self.properties.get(name) {
            Some(Property::Int(value)) => Some(*value),
            _ => None,
        }
    }

    /// Returns the boolean property `name`, or `None` if it is absent or not a boolean.
    pub fn bool(&self, name: &str) -> Option<bool> {
        match self.properties.get(name) {
            Some(Property::Bool(value)) => Some(*value),
            _ => None,
        }
    }

    /// Checks the entity against the Azure Table limits that Azurite does not enforce.
    ///
    /// NOTE: the 1 MiB limit on the total entity size is not checked here, so an entity
    /// near that size is rejected only by the service (HTTP 400, `EntityTooLarge`).
    ///
    /// # Errors
    /// Returns [`StorageError::InvalidEntity`] naming the key or property at fault. The checks
    /// are: keys without forbidden characters, property names of 1 to 255 characters that are
    /// not reserved, at most [`MAX_CUSTOM_PROPERTIES`] properties, and strings of at most
    /// [`MAX_STRING_UTF16_UNITS`] UTF-16 code units.
    pub fn validate(&self) -> Result<(), StorageError> {
        validate_key("PartitionKey", &self.partition_key)?;
        validate_key("RowKey", &self.row_key)?;
        if self.properties.len() > MAX_CUSTOM_PROPERTIES {
            return Err(self.invalid(format!(
                "has {} custom properties, above the limit of {MAX_CUSTOM_PROPERTIES}",
                self.properties.len()
            )));
        }
        for (name, value) in &self.properties {
            self.validate_property(name, value)?;
        }
        Ok(())
    }

    fn validate_property(&self, name: &str, value: &Property) -> Result<(), StorageError> {
        if name.is_empty() || name.chars().count() > MAX_PROPERTY_NAME_CHARS {
            return Err(self.invalid(format!(
                "has property name `{name}`, which must be 1 to {MAX_PROPERTY_NAME_CHARS} characters"
            )));
        }
        if SYSTEM_PROPERTIES.contains(&name) || name.starts_with("odata.") || name.contains('@') {
            return Err(self.invalid(format!(
                "has property name `{name}`, which is reserved by the Table service; rename it"
            )));
        }
        if let Property::String(text) = value {
            let units = text.encode_utf16().count();
            if units > MAX_STRING_UTF16_UNITS {
                return Err(self.invalid(format!(
                    "has string property `{name}` of {units} UTF-16 code units, above the \
                     limit of {MAX_STRING_UTF16_UNITS}; store large values elsewhere"
                )));
            }
        }
        Ok(())
    }

    fn invalid(&self, reason: String) -> StorageError {
        StorageError::InvalidEntity(format!(
            "entity ({}, {}) {reason}",
            self.partition_key, self.row_key
        ))
    }

    /// Serializes the entity to the JSON body of an insert or update, annotating integers
    /// as `Edm.Int64` with their value as a decimal string, as the Table service requires.
    pub(crate) fn to_json(&self) -> Value {
        let mut object = Map::new();
        object.insert("PartitionKey".to_owned(), self.partition_key.clone().into());
        object.insert("RowKey".to_owned(), self.row_key.clone().into());
        for (name, value) in &self.properties {
            match value {
                Property::String(text) => {
                    object.insert(name.clone(), text.clone().into());
                }
                Property::Int(number) => {
                    object.insert(format!("{name}{TYPE_ANNOTATION}"), "Edm.Int64".into());
                    object.insert(name.clone(), number.to_string().into());
                }
                Property::Bool(flag) => {
                    object.insert(name.clone(), (*flag).into());
                }
            }
        }
        Value::Object(object)
    }

    /// Reads an entity from the JSON the service returns at any OData metadata level.
    ///
    /// `etag` is the ETag header of a point read; query results carry `odata.etag` instead.
    pub(crate) fn from_json(value: Value, etag: Option<String>) -> Result<Self, StorageError> {
        let Value::Object(object) = value else {
            return Err(StorageError::InvalidEntity(
                "the service returned an entity that is not a JSON object".to_owned(),
            ));
        };
        let partition_key = required_string(&object, "PartitionKey")?;
        let row_key = required_string(&object, "RowKey")?;
        let etag = etag.or_else(|| {
            object
                .get("odata.etag")
                .and_then(Value::as_str)
                .map(str::to_owned)
        });
        let mut entity = Entity {
            partition_key,
            row_key,
            etag,
            properties: BTreeMap::new(),
        };
        for (name, value) in &object {
            if SYSTEM_PROPERTIES.contains(&name.as_str())
                || name.starts_with("odata.")
                || name.ends_with(TYPE_ANNOTATION)
            {
                continue;
            }
            let edm_type = object
                .get(&format!("{name}{TYPE_ANNOTATION}"))
                .and_then(Value::as_str);
            let property = decode_property(value, edm_type)
                .map_err(|reason| entity.invalid(format!("has property `{name}` that {reason}")))?;
            entity.properties.insert(name.clone(), property);
        }
        Ok(entity)
    }
}

/// Checks one key for the characters that the Table service forbids.
pub(crate) fn validate_key(kind: &str, key: &str) -> Result<(), StorageError> {
    let forbidden = key
        .chars()
        .find(|character| matches!(character, '/' | '\\' | '#' | '?') || character.is_control());
    match forbidden {
        Some(character) => Err(StorageError::InvalidEntity(format!(
            "{kind} `{}` contains {character:?}, which the Table service forbids; \
             build keys with encode_key",
            key.escape_debug()
        ))),
        None => Ok(()),
    }
}

fn required_string(object: &Map<String, Value>, name: &str) -> Result<String, StorageError> {
    object
        .get(name)
        .and_then(Value::as_str)
        .map(str::to_owned)
        .ok_or_else(|| {
            StorageError::InvalidEntity(format!(
                "the service returned an entity without a string {name}"
            ))
        })
}

/// Converts one JSON property. The error completes the sentence "has property `x` that …".
fn decode_property(value: &Value, edm_type: Option<&str>) -> Result<Property, String> {
    match (edm_type, value) {
        (None | Some("Edm.String"), Value::String(text)) => Ok(Property::String(text.clone())),
        (None | Some("Edm.Boolean"), Value::Bool(flag)) => Ok(Property::Bool(*flag)),
        (Some("Edm.Int64"), Value::String(text)) => text
            .parse::<i64>()
            .map(Property::Int)
            .map_err(|_| format!("is Edm.Int64 but holds `{text}`")),
        (None | Some("Edm.Int32") | Some("Edm.Int64"), Value::Number(number)) => number
            .as_i64()
            .map(Property::Int)
            .ok_or_else(|| format!("is the number {number}, which is not a 64-bit integer")),
        (Some(other), _) => Err(format!(
            "has type {other}; only strings, 64-bit integers and booleans are supported"
        )),
        (None, other) => Err(format!("has the unsupported JSON value {other}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn getters_return_typed_values() {
        let entity = Entity::new("p", "r")
            .with("Title", "Write report")
            .with("Revision", 5_000_000_000_i64)
            .with("Done", true);
        assert_eq!(entity.string("Title"), Some("Write report"));
        assert_eq!(entity.int("Revision"), Some(5_000_000_000));
        assert_eq!(entity.bool("Done"), Some(true));
        assert_eq!(entity.int("Title"), None);
        assert_eq!(entity.string("Missing"), None);
    }

    #[test]
    fn integers_are_written_as_annotated_strings() {
        let entity = Entity::new("p", "r").with("Revision", 5_000_000_000_i64);
        let json = entity.to_json();
        assert_eq!(json["Revision"], json!("5000000000"));
        assert_eq!(json["Revision@odata.type"], json!("Edm.Int64"));
    }

    #[test]
    fn json_of_every_metadata_level_is_read() {
        let full = json!({
            "odata.etag": "W/\"datetime'2024'\"",
            "PartitionKey": "p", "RowKey": "r",
            "Timestamp@odata.type": "Edm.DateTime", "Timestamp": "2024-01-01T00:00:00Z",
            "Big@odata.type": "Edm.Int64", "Big": "5000000000",
            "Small@odata.type": "Edm.Int32", "Small": 7,
            "Plain": 42, "Flag": false, "Text": "hi"
        });
        let entity = Entity::from_json(full, None).expect("entity should decode");
        assert_eq!(entity.etag.as_deref(), Some("W/\"datetime'2024'\""));
        assert_eq!(entity.int("Big"), Some(5_000_000_000));
        assert_eq!(entity.int("Small"), Some(7));
        assert_eq!(entity.int("Plain"), Some(42));
        assert_eq!(entity.bool("Flag"), Some(false));
        assert_eq!(entity.string("Text"), Some("hi"));
        assert_eq!(entity.properties.len(), 5);
    }

    #[test]
    fn unsupported_types_are_rejected_by_name() {
        let json = json!({
            "PartitionKey": "p", "RowKey": "r",
            "Ratio@odata.type": "Edm.Double", "Ratio": 0.5
        });
        let error = Entity::from_json(json, None).expect_err("Edm.Double is unsupported");
        assert!(error.to_string().contains("Ratio"), "{error}");
    }

    #[test]
    fn property_count_limit_is_enforced() {
        let mut entity = Entity::new("p", "r");
        for index in 0..MAX_CUSTOM_PROPERTIES {
            entity.set(format!("P{index}"), true);
        }
        assert!(entity.validate().is_ok());
        entity.set("OneTooMany", true);
        assert!(matches!(
            entity.validate(),
            Err(StorageError::InvalidEntity(_))
        ));
    }

    #[test]
    fn string_length_limit_counts_utf16_units() {
        let at_limit = "a".repeat(MAX_STRING_UTF16_UNITS);
        // Each crab is two UTF-16 code units, so half the limit in crabs plus one is too long.
        let over_limit = "🦀".repeat(MAX_STRING_UTF16_UNITS / 2 + 1);
        assert!(Entity::new("p", "r")
            .with("Body", at_limit)
            .validate()
            .is_ok());
        assert!(Entity::new("p", "r")
            .with("Body", over_limit)
            .validate()
            .is_err());
    }

    #[test]
    fn forbidden_keys_and_names_are_rejected() {
        let cases = [
            Entity::new("a/b", "r"),
            Entity::new("p", "r#1"),
            Entity::new("p", "line\nbreak"),
            Entity::new("p", "r").with("RowKey", "x"),
            Entity::new("p", "r").with("", "x"),
            Entity::new("p", "r").with("Name@odata.type", "Edm.String"),
        ];
        for entity in cases {
            assert!(entity.validate().is_err(), "{entity:?}");
        }
    }
}
