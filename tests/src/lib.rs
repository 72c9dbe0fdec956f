//! Support for the end-to-end tests: where the built binaries and the shared fixtures are.

use std::path::PathBuf;

/// The workspace root.
pub fn workspace_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("."))
}

/// The shared fixtures folder (`../shared/fixtures` beside the repository).
pub fn fixtures() -> PathBuf {
    if let Ok(dir) = std::env::var("PREFLIGHT_FIXTURES") {
        return PathBuf::from(dir);
    }
    workspace_root().join("..").join("shared").join("fixtures")
}

/// Path of a binary built by this workspace (`preflight` or `preflight-agent`), in the same
/// target directory and profile as the running test.
pub fn binary(name: &str) -> PathBuf {
    let exe = std::env::current_exe().unwrap_or_default();
    // target/<profile>/deps/test-xxxx → target/<profile>/<name>
    let dir = exe
        .parent()
        .and_then(|p| p.parent())
        .map(PathBuf::from)
        .unwrap_or_default();
    dir.join(name)
}
