//! Reversible encoding of arbitrary text into PartitionKey and RowKey values, and quoting
//! of OData string literals.
//!
//! The Table service rejects `/`, `\`, `#`, `?` and control characters in keys. These
//! functions escape such characters as `~` followed by two uppercase hex digits per UTF-8
//! byte. The escape is `~` rather than `%` because Azure Tables decodes the URL path of
//! point operations twice, so a key containing `%` can fail with 400 or 404 on get, update
//! and delete (Azure Storage team blog, "PartitionKey or RowKey containing the percent '%'
//! character causes some Windows Azure Tables APIs to fail", 2012). `%` and `~` are escaped
//! too, so every other character, for example in `auth0|abc`, stays readable.

use super::StorageError;

/// Escape character of [`encode_key`].
const ESCAPE: char = '~';

/// Encodes `text` so that it is a valid PartitionKey or RowKey and contains no `%`.
///
/// The encoding is injective, so distinct texts give distinct keys, and [`decode_key`]
/// reverses it. It does not preserve sort order for texts that differ in escaped characters.
pub fn encode_key(text: &str) -> String {
    let mut encoded = String::with_capacity(text.len());
    for character in text.chars() {
        if needs_escape(character) {
            let mut buffer = [0u8; 4];
            for byte in character.encode_utf8(&mut buffer).bytes() {
                encoded.push(ESCAPE);
                encoded.push_str(&format!("{byte:02X}"));
            }
        } else {
            encoded.push(character);
        }
    }
    encoded
}

/// Decodes a key produced by [`encode_key`].
///
/// # Errors
/// Returns [`StorageError::InvalidEntity`] when a `~` is not followed by two hex digits or
/// the escaped bytes are not UTF-8, which means the key was not written by [`encode_key`].
pub fn decode_key(key: &str) -> Result<String, StorageError> {
    let invalid = |reason: &str| {
        StorageError::InvalidEntity(format!(
            "key `{key}` is not an encoded key: {reason}; write keys with encode_key"
        ))
    };
    let mut bytes = Vec::with_capacity(key.len());
    let mut rest = key;
    while let Some(position) = rest.find(ESCAPE) {
        bytes.extend_from_slice(&rest.as_bytes()[..position]);
        let digits = rest
            .get(position + 1..position + 3)
            .ok_or_else(|| invalid("`~` is not followed by two hex digits"))?;
        if !digits.bytes().all(|byte| byte.is_ascii_hexdigit()) {
            return Err(invalid("`~` is not followed by two hex digits"));
        }
        let byte = u8::from_str_radix(digits, 16)
            .map_err(|_| invalid("`~` is not followed by two hex digits"))?;
        bytes.push(byte);
        rest = &rest[position + 3..];
    }
    bytes.extend_from_slice(rest.as_bytes());
    String::from_utf8(bytes).map_err(|_| invalid("the escaped bytes are not UTF-8"))
}

/// Quotes `value` as an OData string literal for a `$filter`, doubling every `'`.
///
/// For example `O'Brien` becomes `'O''Brien'`, so
/// `format!("PartitionKey eq {}", odata_string(key))` matches exactly `key`.
pub fn odata_string(value: &str) -> String {
    format!("'{}'", value.replace('\'', "''"))
}

fn needs_escape(character: char) -> bool {
    // `char::is_control` is exactly the ranges U+0000–U+001F and U+007F–U+009F that the
    // Table service forbids in keys.
    matches!(character, '/' | '\\' | '#' | '?' | '%' | ESCAPE) || character.is_control()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ordinary_characters_stay_readable() {
        assert_eq!(encode_key("auth0|abc"), "auth0|abc");
        assert_eq!(
            encode_key("O'Brien & Co. 2024-05-01"),
            "O'Brien & Co. 2024-05-01"
        );
        assert_eq!(encode_key("Zürich 東京"), "Zürich 東京");
    }

    #[test]
    fn forbidden_characters_are_escaped() {
        assert_eq!(encode_key("a/b\\c#d?e"), "a~2Fb~5Cc~23d~3Fe");
        assert_eq!(encode_key("100%"), "100~25");
        assert_eq!(encode_key("~"), "~7E");
        assert_eq!(encode_key("tab\there"), "tab~09here");
        assert_eq!(encode_key("\u{85}"), "~C2~85");
    }

    #[test]
    fn encoded_keys_contain_no_forbidden_character() {
        let encoded = encode_key("auth0|x/y#z?%~\u{0}\u{7f}\u{9f}'");
        for forbidden in ['/', '\\', '#', '?', '%'] {
            assert!(
                !encoded.contains(forbidden),
                "{encoded} contains {forbidden}"
            );
        }
        assert!(!encoded.chars().any(char::is_control), "{encoded}");
    }

    #[test]
    fn decoding_reverses_encoding() {
        let samples = [
            "",
            "auth0|x/y#z?",
            "it's",
            "%2F already escaped",
            "~7E looks escaped",
            "日本語/中文#한국어",
            "emoji 🦀?",
            "\u{0}\u{1f}\u{7f}\u{85}\u{9f}",
        ];
        for sample in samples {
            let decoded = decode_key(&encode_key(sample)).expect("an encoded key should decode");
            assert_eq!(decoded, sample);
        }
    }

    #[test]
    fn decoding_rejects_broken_escapes() {
        for broken in ["~", "~4", "abc~G1", "~FF", "~E6~97"] {
            let result = decode_key(broken);
            assert!(
                matches!(result, Err(StorageError::InvalidEntity(_))),
                "{broken}: {result:?}"
            );
        }
    }

    #[test]
    fn odata_string_doubles_quotes() {
        assert_eq!(odata_string("plain"), "'plain'");
        assert_eq!(odata_string("O'Brien"), "'O''Brien'");
        assert_eq!(odata_string("''"), "''''''");
        assert_eq!(odata_string(""), "''");
        assert_eq!(odata_string("a/b%c"), "'a/b%c'");
    }
}
