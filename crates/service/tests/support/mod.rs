//! Shared Azurite for integration tests: one instance per test binary.

use std::path::PathBuf;
use std::sync::OnceLock;

use prism_service::azurite::{Azurite, AzuriteOptions};

/// Returns the Azurite of this test binary, starting it on first use.
///
/// The instance lives in a static, so it is never dropped. Azurite still stops when the
/// test process exits, because the guard script stops it when its stdin reaches end of file.
pub fn azurite() -> &'static Azurite {
    static AZURITE: OnceLock<Azurite> = OnceLock::new();
    AZURITE.get_or_init(|| {
        let options = AzuriteOptions {
            project_root: project_root(),
            data_dir: None,
        };
        match Azurite::start(options) {
            Ok(azurite) => azurite,
            Err(error) => panic!("failed to start Azurite for the tests: {error}"),
        }
    })
}

/// Returns the repository root, two levels above this crate.
pub fn project_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}
