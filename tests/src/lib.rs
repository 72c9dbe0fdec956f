//! Support for the end-to-end tests: where the built binaries and the fixtures are.

use std::path::PathBuf;

/// The workspace root.
pub fn workspace_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("."))
}

/// The project's own fixtures (`tests/fixtures`: a small MAAS, bundles, charm metadata).
pub fn fixtures() -> PathBuf {
    workspace_root().join("tests").join("fixtures")
}

/// The real public fixtures, for the real-fixture tier (tests named `real_fixture…`):
/// `$PREFLIGHT_FIXTURES`, else `../shared/fixtures` beside the repository. Panics with a
/// message saying how to point at them or skip the tier when the folder is missing, so such a
/// test never passes without looking (`./test.sh` skips the tier by name, and says so).
pub fn real_fixtures() -> PathBuf {
    let dir = match std::env::var_os("PREFLIGHT_FIXTURES") {
        Some(d) if !d.is_empty() => PathBuf::from(d),
        _ => workspace_root().join("..").join("shared").join("fixtures"),
    };
    assert!(
        dir.is_dir(),
        "real-fixture test: no fixtures at {} (set PREFLIGHT_FIXTURES to the folder of the \
         public samples, or skip this tier with `cargo test -- --skip real_fixture`; \
         ./test.sh does that by itself)",
        dir.display()
    );
    dir
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

/// Runs `preflight validate ARGS` (with no `MAAS_API_KEY` from the environment) and returns
/// its output; panics, saying how, when the binaries are not built.
pub fn validate(args: &[&str]) -> std::process::Output {
    let bin = binary("preflight");
    assert!(
        bin.exists(),
        "build the binaries first: cargo build --workspace --bins ({})",
        bin.display()
    );
    std::process::Command::new(bin)
        .arg("validate")
        .args(args)
        .env_remove("MAAS_API_KEY")
        .output()
        .unwrap_or_else(|e| panic!("cannot run preflight validate: {e}"))
}

/// A finished command's exit code (-1 when a signal ended it).
pub fn exit_code(o: &std::process::Output) -> i32 {
    o.status.code().unwrap_or(-1)
}

/// A command's standard output as JSON; panics with both streams when it is not.
pub fn json_stdout(o: &std::process::Output) -> serde_json::Value {
    serde_json::from_slice(&o.stdout).unwrap_or_else(|e| {
        panic!(
            "not JSON ({e}): {}\nstderr: {}",
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        )
    })
}
