//! Parses Azure Storage connection strings into account name, key and service endpoints.

use std::fmt;

use azure_core::Url;
use base64::Engine as _;

/// Account name of the storage emulators (Azurite and the older Storage Emulator).
pub(crate) const EMULATOR_ACCOUNT_NAME: &str = "devstoreaccount1";

/// Shared key of the emulator account. It is published in the Azurite documentation and
/// grants access to nothing but a local emulator.
pub(crate) const EMULATOR_ACCOUNT_KEY: &str =
    "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==";

/// A connection string that cannot be used. Messages name the key at fault and never
/// contain the account key.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ConnectionStringError {
    /// The connection string is empty or contains only separators.
    #[error("storage connection string is empty; set it to `UseDevelopmentStorage=true` or to a full account connection string")]
    Empty,

    /// A `;`-separated segment has no `=`. Only the position is reported, because the segment
    /// could be a misplaced account key.
    #[error("segment {position} of the storage connection string has no `=`; write every setting as `Key=Value`")]
    MalformedSegment {
        /// One-based position of the segment.
        position: usize,
    },

    /// A key appears twice.
    #[error("storage connection string sets `{key}` twice; keep one")]
    DuplicateKey {
        /// The repeated key.
        key: String,
    },

    /// A required key is absent.
    #[error("storage connection string is missing `{key}`")]
    MissingKey {
        /// The missing key.
        key: &'static str,
    },

    /// A key has a value that cannot be used.
    #[error("storage connection string has an invalid `{key}`: {reason}")]
    InvalidValue {
        /// The key whose value is invalid.
        key: &'static str,
        /// Explanation of the problem and its fix. Never contains the account key.
        reason: String,
    },

    /// A key is recognized but not supported by these adapters.
    #[error("storage connection string key `{key}` is not supported; {hint}")]
    Unsupported {
        /// The unsupported key.
        key: String,
        /// Suggested alternative.
        hint: &'static str,
    },

    /// A key is not part of the Azure Storage connection string format, which is often a
    /// typo that would otherwise send requests to a default public endpoint.
    #[error("segment {position} of the storage connection string has the unknown key {shown}; check its spelling")]
    UnknownKey {
        /// One-based position of the segment.
        position: usize,
        /// The key in backticks, or `(not shown)` when it does not look like a key name and
        /// could contain part of the account key.
        shown: String,
    },
}

/// A storage account with shared-key credentials and the endpoints of its blob, queue and
/// table services.
///
/// Endpoints have no trailing slash. For emulators they are path-style URLs whose first path
/// segment is the account name, such as `http://127.0.0.1:10001/devstoreaccount1`.
/// `Debug` prints `<redacted>` in place of the account key.
#[derive(Clone, PartialEq, Eq)]
pub struct StorageAccount {
    name: String,
    key: String,
    blob_endpoint: String,
    queue_endpoint: String,
    table_endpoint: String,
}

/// Settings of one connection string, keyed by their canonical spelling.
#[derive(Default)]
struct Settings {
    use_development_storage: Option<String>,
    protocol: Option<String>,
    account_name: Option<String>,
    account_key: Option<String>,
    endpoint_suffix: Option<String>,
    blob_endpoint: Option<String>,
    queue_endpoint: Option<String>,
    table_endpoint: Option<String>,
}

impl StorageAccount {
    /// Parses a connection string.
    ///
    /// Accepts `UseDevelopmentStorage=true` (the emulator account on 127.0.0.1 ports 10000,
    /// 10001 and 10002) and `DefaultEndpointsProtocol=…;AccountName=…;AccountKey=…` with an
    /// optional `EndpointSuffix` (default `core.windows.net`) and optional explicit
    /// `BlobEndpoint`, `QueueEndpoint` and `TableEndpoint`. Keys are case-insensitive, and
    /// keys of other services such as `FileEndpoint` are ignored.
    ///
    /// # Errors
    /// Returns [`ConnectionStringError`] naming the missing, repeated or invalid key.
    pub fn parse(connection_string: &str) -> Result<Self, ConnectionStringError> {
        let settings = Settings::parse(connection_string)?;
        match settings.use_development_storage.as_deref() {
            Some(value) if value.eq_ignore_ascii_case("true") => {
                settings.reject_with_development_storage()?;
                Ok(Self::emulator("127.0.0.1", 10000, 10001, 10002))
            }
            Some(_) => Err(ConnectionStringError::InvalidValue {
                key: "UseDevelopmentStorage",
                reason: "the only accepted value is `true`; remove the key to use a real account"
                    .to_owned(),
            }),
            None => Self::from_account_settings(settings),
        }
    }

    /// Builds the emulator account on `host` with the given blob, queue and table ports.
    pub(crate) fn emulator(host: &str, blob_port: u16, queue_port: u16, table_port: u16) -> Self {
        let endpoint = |port: u16| format!("http://{host}:{port}/{EMULATOR_ACCOUNT_NAME}");
        Self {
            name: EMULATOR_ACCOUNT_NAME.to_owned(),
            key: EMULATOR_ACCOUNT_KEY.to_owned(),
            blob_endpoint: endpoint(blob_port),
            queue_endpoint: endpoint(queue_port),
            table_endpoint: endpoint(table_port),
        }
    }

    fn from_account_settings(settings: Settings) -> Result<Self, ConnectionStringError> {
        let name = settings
            .account_name
            .ok_or(ConnectionStringError::MissingKey { key: "AccountName" })?;
        validate_account_name(&name)?;
        let key = settings
            .account_key
            .ok_or(ConnectionStringError::MissingKey { key: "AccountKey" })?;
        validate_account_key(&key)?;

        let protocol = settings.protocol.unwrap_or_else(|| "https".to_owned());
        if protocol != "http" && protocol != "https" {
            return Err(ConnectionStringError::InvalidValue {
                key: "DefaultEndpointsProtocol",
                reason: format!("`{protocol}` is neither `http` nor `https`"),
            });
        }
        let suffix = settings
            .endpoint_suffix
            .unwrap_or_else(|| "core.windows.net".to_owned());
        let default_endpoint = |service: &str| format!("{protocol}://{name}.{service}.{suffix}");

        let blob_endpoint = settings
            .blob_endpoint
            .unwrap_or_else(|| default_endpoint("blob"));
        let queue_endpoint = settings
            .queue_endpoint
            .unwrap_or_else(|| default_endpoint("queue"));
        let table_endpoint = settings
            .table_endpoint
            .unwrap_or_else(|| default_endpoint("table"));
        Ok(Self {
            blob_endpoint: normalize_endpoint("BlobEndpoint", &blob_endpoint)?,
            queue_endpoint: normalize_endpoint("QueueEndpoint", &queue_endpoint)?,
            table_endpoint: normalize_endpoint("TableEndpoint", &table_endpoint)?,
            name,
            key,
        })
    }

    /// Returns the account name.
    pub fn account_name(&self) -> &str {
        &self.name
    }

    /// Returns the blob service endpoint, without a trailing slash.
    pub fn blob_endpoint(&self) -> &str {
        &self.blob_endpoint
    }

    /// Returns the queue service endpoint, without a trailing slash.
    pub fn queue_endpoint(&self) -> &str {
        &self.queue_endpoint
    }

    /// Returns the table service endpoint, without a trailing slash.
    pub fn table_endpoint(&self) -> &str {
        &self.table_endpoint
    }

    /// Formats the account as a full connection string with explicit endpoints, the form
    /// that the Azure Functions host and Azure Storage Explorer accept.
    ///
    /// The result contains the account key, so pass it only to trusted processes and never
    /// log it.
    pub fn to_connection_string(&self) -> String {
        let protocol = if self.queue_endpoint.starts_with("http://") {
            "http"
        } else {
            "https"
        };
        format!(
            "DefaultEndpointsProtocol={protocol};AccountName={};AccountKey={};\
             BlobEndpoint={};QueueEndpoint={};TableEndpoint={};",
            self.name, self.key, self.blob_endpoint, self.queue_endpoint, self.table_endpoint
        )
    }

    /// Returns the account key for signing requests inside the storage module.
    pub(crate) fn account_key(&self) -> &str {
        &self.key
    }
}

impl fmt::Debug for StorageAccount {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter
            .debug_struct("StorageAccount")
            .field("name", &self.name)
            .field("key", &"<redacted>")
            .field("blob_endpoint", &self.blob_endpoint)
            .field("queue_endpoint", &self.queue_endpoint)
            .field("table_endpoint", &self.table_endpoint)
            .finish()
    }
}

impl Settings {
    fn parse(connection_string: &str) -> Result<Self, ConnectionStringError> {
        let mut settings = Settings::default();
        let mut any = false;
        for (index, segment) in connection_string.split(';').enumerate() {
            let segment = segment.trim();
            if segment.is_empty() {
                continue;
            }
            any = true;
            let (key, value) =
                segment
                    .split_once('=')
                    .ok_or(ConnectionStringError::MalformedSegment {
                        position: index + 1,
                    })?;
            settings.set(index + 1, key.trim(), value.trim())?;
        }
        if any {
            Ok(settings)
        } else {
            Err(ConnectionStringError::Empty)
        }
    }

    fn set(
        &mut self,
        position: usize,
        key: &str,
        value: &str,
    ) -> Result<(), ConnectionStringError> {
        let slot = match key.to_ascii_lowercase().as_str() {
            "usedevelopmentstorage" => &mut self.use_development_storage,
            "defaultendpointsprotocol" => &mut self.protocol,
            "accountname" => &mut self.account_name,
            "accountkey" => &mut self.account_key,
            "endpointsuffix" => &mut self.endpoint_suffix,
            "blobendpoint" => &mut self.blob_endpoint,
            "queueendpoint" => &mut self.queue_endpoint,
            "tableendpoint" => &mut self.table_endpoint,
            "sharedaccesssignature" => {
                return Err(ConnectionStringError::Unsupported {
                    key: key.to_owned(),
                    hint: "use an AccountKey connection string",
                })
            }
            "developmentstorageproxyuri" => {
                return Err(ConnectionStringError::Unsupported {
                    key: key.to_owned(),
                    hint: "list the emulator endpoints with QueueEndpoint and TableEndpoint",
                })
            }
            // Keys of services and secondary endpoints that these adapters do not use.
            "fileendpoint"
            | "blobsecondaryendpoint"
            | "queuesecondaryendpoint"
            | "tablesecondaryendpoint"
            | "filesecondaryendpoint" => return Ok(()),
            _ => return Err(unknown_key(position, key)),
        };
        if slot.is_some() {
            return Err(ConnectionStringError::DuplicateKey {
                key: key.to_owned(),
            });
        }
        *slot = Some(value.to_owned());
        Ok(())
    }

    /// Rejects keys that would be silently ignored next to `UseDevelopmentStorage=true`.
    fn reject_with_development_storage(&self) -> Result<(), ConnectionStringError> {
        let others = [
            ("DefaultEndpointsProtocol", &self.protocol),
            ("AccountName", &self.account_name),
            ("AccountKey", &self.account_key),
            ("EndpointSuffix", &self.endpoint_suffix),
            ("BlobEndpoint", &self.blob_endpoint),
            ("QueueEndpoint", &self.queue_endpoint),
            ("TableEndpoint", &self.table_endpoint),
        ];
        match others.iter().find(|(_, value)| value.is_some()) {
            Some((key, _)) => Err(ConnectionStringError::Unsupported {
                key: (*key).to_owned(),
                hint: "UseDevelopmentStorage=true takes no other keys; write a full \
                       connection string with explicit endpoints instead",
            }),
            None => Ok(()),
        }
    }
}

fn unknown_key(position: usize, key: &str) -> ConnectionStringError {
    // Key names are short words. Anything else may be a mangled `AccountKey=` segment whose
    // text before the first `=` is key material, so it is not echoed.
    let looks_like_name = key.len() <= 40 && key.bytes().all(|byte| byte.is_ascii_alphabetic());
    let shown = if looks_like_name {
        format!("`{key}`")
    } else {
        "(not shown)".to_owned()
    };
    ConnectionStringError::UnknownKey { position, shown }
}

fn validate_account_name(name: &str) -> Result<(), ConnectionStringError> {
    // Azure account names are 3 to 24 lowercase letters and digits.
    let valid = (3..=24).contains(&name.len())
        && name
            .bytes()
            .all(|byte| byte.is_ascii_lowercase() || byte.is_ascii_digit());
    if valid {
        Ok(())
    } else {
        Err(ConnectionStringError::InvalidValue {
            key: "AccountName",
            reason: format!("`{name}` is not 3 to 24 lowercase letters and digits"),
        })
    }
}

fn validate_account_key(key: &str) -> Result<(), ConnectionStringError> {
    let decoded = base64::engine::general_purpose::STANDARD.decode(key);
    match decoded {
        Ok(bytes) if !bytes.is_empty() => Ok(()),
        _ => Err(ConnectionStringError::InvalidValue {
            key: "AccountKey",
            reason: "the value is not non-empty base64; copy the key again from the \
                     account's access keys"
                .to_owned(),
        }),
    }
}

fn normalize_endpoint(key: &'static str, endpoint: &str) -> Result<String, ConnectionStringError> {
    let invalid = |reason: String| ConnectionStringError::InvalidValue { key, reason };
    let url = Url::parse(endpoint)
        .map_err(|error| invalid(format!("`{endpoint}` is not a URL ({error})")))?;
    if url.scheme() != "http" && url.scheme() != "https" {
        return Err(invalid(format!("`{endpoint}` is not an http or https URL")));
    }
    if url.host_str().is_none() || url.query().is_some() || url.fragment().is_some() {
        return Err(invalid(format!(
            "`{endpoint}` must have a host and no query or fragment"
        )));
    }
    Ok(url.as_str().trim_end_matches('/').to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str = "c2VjcmV0LWtleS1mb3ItdGVzdHM=";

    #[test]
    fn development_storage_uses_default_ports() {
        let account =
            StorageAccount::parse("UseDevelopmentStorage=true").expect("parsing should succeed");
        assert_eq!(account.account_name(), "devstoreaccount1");
        assert_eq!(
            account.queue_endpoint(),
            "http://127.0.0.1:10001/devstoreaccount1"
        );
        assert_eq!(
            account.table_endpoint(),
            "http://127.0.0.1:10002/devstoreaccount1"
        );
        assert_eq!(account.account_key(), EMULATOR_ACCOUNT_KEY);
    }

    #[test]
    fn full_string_derives_endpoints() {
        let text = format!(
            "DefaultEndpointsProtocol=https;AccountName=prismplan;AccountKey={KEY};\
             EndpointSuffix=core.windows.net"
        );
        let account = StorageAccount::parse(&text).expect("parsing should succeed");
        assert_eq!(account.account_name(), "prismplan");
        assert_eq!(
            account.queue_endpoint(),
            "https://prismplan.queue.core.windows.net"
        );
        assert_eq!(
            account.table_endpoint(),
            "https://prismplan.table.core.windows.net"
        );
    }

    #[test]
    fn explicit_endpoints_win_and_lose_trailing_slash() {
        let text = format!(
            "DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey={KEY};\
             QueueEndpoint=http://127.0.0.1:41001/devstoreaccount1/;\
             TableEndpoint=http://127.0.0.1:41002/devstoreaccount1;FileEndpoint=http://x"
        );
        let account = StorageAccount::parse(&text).expect("parsing should succeed");
        assert_eq!(
            account.queue_endpoint(),
            "http://127.0.0.1:41001/devstoreaccount1"
        );
        assert_eq!(
            account.table_endpoint(),
            "http://127.0.0.1:41002/devstoreaccount1"
        );
    }

    #[test]
    fn connection_string_round_trips() {
        let account = StorageAccount::emulator("127.0.0.1", 40000, 40001, 40002);
        let reparsed =
            StorageAccount::parse(&account.to_connection_string()).expect("parsing should succeed");
        assert_eq!(reparsed, account);
    }

    #[test]
    fn missing_keys_are_named() {
        let without_key = "AccountName=prismplan";
        let without_name = format!("AccountKey={KEY}");
        assert_eq!(
            StorageAccount::parse(without_key).expect_err("parsing should fail"),
            ConnectionStringError::MissingKey { key: "AccountKey" }
        );
        assert_eq!(
            StorageAccount::parse(&without_name).expect_err("parsing should fail"),
            ConnectionStringError::MissingKey { key: "AccountName" }
        );
        assert_eq!(
            StorageAccount::parse(" ; ").expect_err("parsing should fail"),
            ConnectionStringError::Empty
        );
    }

    #[test]
    fn errors_never_print_the_key() {
        let secret = "bm90LWEtcmVhbC1rZXk=";
        let cases = [
            format!("AccountName=prismplan;{secret}"),
            format!("AccountName=prismplan;AccountKey={secret};AccountKey={secret}"),
            format!("AccountName=prismplan;AccountKey={secret};QueueEndpoint=ftp://host"),
            "AccountName=prismplan;AccountKey=not base64!".to_owned(),
            format!("AccountName=prismplan;AccountKey {secret}"),
        ];
        for text in cases {
            let message = StorageAccount::parse(&text)
                .expect_err("parsing should fail")
                .to_string();
            assert!(!message.contains(secret), "{message}");
            assert!(!message.contains("not base64!"), "{message}");
        }
    }

    #[test]
    fn unknown_keys_are_rejected() {
        let typo =
            format!("AccountName=prismplan;AccountKey={KEY};QueueEndpont=http://127.0.0.1:1");
        let error = StorageAccount::parse(&typo).expect_err("parsing should fail");
        assert_eq!(
            error,
            ConnectionStringError::UnknownKey {
                position: 3,
                shown: "`QueueEndpont`".to_owned()
            }
        );
    }

    #[test]
    fn debug_redacts_the_key() {
        let account =
            StorageAccount::parse("UseDevelopmentStorage=true").expect("parsing should succeed");
        let printed = format!("{account:?}");
        assert!(printed.contains("<redacted>"));
        assert!(!printed.contains(EMULATOR_ACCOUNT_KEY));
    }

    #[test]
    fn invalid_values_are_rejected() {
        let bad_protocol =
            format!("DefaultEndpointsProtocol=ftp;AccountName=prismplan;AccountKey={KEY}");
        let bad_name = format!("AccountName=Prism_Plan;AccountKey={KEY}");
        assert!(matches!(
            StorageAccount::parse(&bad_protocol).expect_err("parsing should fail"),
            ConnectionStringError::InvalidValue {
                key: "DefaultEndpointsProtocol",
                ..
            }
        ));
        assert!(matches!(
            StorageAccount::parse(&bad_name).expect_err("parsing should fail"),
            ConnectionStringError::InvalidValue {
                key: "AccountName",
                ..
            }
        ));
        assert!(matches!(
            StorageAccount::parse("UseDevelopmentStorage=false").expect_err("parsing should fail"),
            ConnectionStringError::InvalidValue {
                key: "UseDevelopmentStorage",
                ..
            }
        ));
        assert!(matches!(
            StorageAccount::parse("UseDevelopmentStorage=true;AccountName=x")
                .expect_err("parsing should fail"),
            ConnectionStringError::Unsupported { .. }
        ));
    }
}
