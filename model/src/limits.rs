//! Limits shared by every side of preflight: what a peer, a server or a file may send before it
//! is refused. Each is a named constant so `docs/security.md` can table them and `--help` can
//! quote them; the coordinator checks its own settings against the same caps the agent
//! enforces, so it never hands out a plan every agent refuses.

use std::io::Read;
use std::path::Path;

use crate::observed::ObservedConfig;

/// Longest hostname (RFC 1035: 253 characters).
pub const MAX_HOSTNAME: usize = 253;
/// Longest system_id or machine-id.
pub const MAX_MACHINE_ID: usize = 64;
/// Longest short identity text (agent version, timestamp, link kind, state words).
pub const MAX_SHORT_TEXT: usize = 128;
/// Longest interface name (the kernel's IFNAMSIZ is 16 including the NUL; 64 leaves room).
pub const MAX_IFNAME: usize = 64;
/// Most links in one observed config.
pub const MAX_LINKS: usize = 4_096;
/// Most addresses in one observed config.
pub const MAX_ADDRESSES: usize = 16_384;
/// Most routes in one observed config.
pub const MAX_ROUTES: usize = 65_536;
/// Most members (bridge ports, bond slaves) of one link.
pub const MAX_MEMBERS: usize = 4_096;

/// Most echo requests per target a plan may ask for.
pub const MAX_COUNT: u32 = 1_000;
/// Most echo requests a whole plan may ask for (count × (1 + retries) × targets).
pub const MAX_PLAN_PACKETS: u64 = 2_000_000;
/// Packets per second an agent sends at most when the plan names no lower rate.
pub const DEFAULT_RATE_CAP: u32 = 2_000;
/// Shortest interval between two requests to one target, in milliseconds.
pub const MIN_INTERVAL_MS: u64 = 1;
/// Longest per-reply timeout, in milliseconds.
pub const MAX_TIMEOUT_MS: u64 = 60_000;
/// Most retries per target.
pub const MAX_RETRIES: u32 = 10;

/// Largest file preflight reads as input (bundle, overlay, provider snapshot, plan, observed).
pub const MAX_INPUT_FILE: u64 = 256 << 20;
/// Largest secret file (token, API key, TLS key or certificate).
pub const MAX_SECRET_FILE: u64 = 64 << 10;

/// Why a document breaks a limit: the field path and what is wrong.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {message}")]
pub struct LimitError {
    /// Path of the offending field (`identity.hostname`, `links[3].name`).
    pub field: String,
    /// What is wrong.
    pub message: String,
}

fn text(field: impl FnOnce() -> String, s: &str, max: usize) -> Result<(), LimitError> {
    if s.len() > max {
        return Err(LimitError {
            field: field(),
            message: format!("{} bytes, more than the limit of {max}", s.len()),
        });
    }
    Ok(())
}

fn opt(field: impl FnOnce() -> String, s: &Option<String>, max: usize) -> Result<(), LimitError> {
    match s {
        Some(s) => text(field, s, max),
        None => Ok(()),
    }
}

fn list(field: &str, n: usize, max: usize) -> Result<(), LimitError> {
    if n > max {
        return Err(LimitError {
            field: field.to_string(),
            message: format!("{n} entries, more than the limit of {max}"),
        });
    }
    Ok(())
}

/// Checks every string and list of an observed config against the limits above, so nothing an
/// agent sends is copied, unbounded, into findings and every rendering of the report.
pub fn check_observed(o: &ObservedConfig) -> Result<(), LimitError> {
    let id = &o.identity;
    text(|| "schema".into(), &o.schema, MAX_SHORT_TEXT)?;
    text(|| "identity.hostname".into(), &id.hostname, MAX_HOSTNAME)?;
    opt(
        || "identity.machine_id".into(),
        &id.machine_id,
        MAX_MACHINE_ID,
    )?;
    opt(
        || "identity.system_id".into(),
        &id.system_id,
        MAX_MACHINE_ID,
    )?;
    text(
        || "identity.agent_version".into(),
        &id.agent_version,
        MAX_SHORT_TEXT,
    )?;
    text(
        || "identity.observed_at".into(),
        &id.observed_at,
        MAX_SHORT_TEXT,
    )?;
    list("links", o.links.len(), MAX_LINKS)?;
    list("addresses", o.addresses.len(), MAX_ADDRESSES)?;
    list("routes", o.routes.len(), MAX_ROUTES)?;
    list("default_gateways", o.default_gateways.len(), MAX_ROUTES)?;
    for (i, l) in o.links.iter().enumerate() {
        text(|| format!("links[{i}].name"), &l.name, MAX_IFNAME)?;
        text(
            || format!("links[{i}].kind"),
            &l.kind.to_string(),
            MAX_SHORT_TEXT,
        )?;
        if let Some(crate::vocab::MacAddr::Other(m)) = &l.mac {
            text(|| format!("links[{i}].mac"), m, MAX_SHORT_TEXT)?;
        }
        text(
            || format!("links[{i}].oper_state"),
            l.oper_state.as_str(),
            MAX_SHORT_TEXT,
        )?;
        opt(|| format!("links[{i}].master"), &l.master, MAX_IFNAME)?;
        opt(|| format!("links[{i}].parent"), &l.parent, MAX_IFNAME)?;
        list(
            &format!("links[{i}].bridge_ports"),
            l.bridge_ports.len(),
            MAX_MEMBERS,
        )?;
        for (j, p) in l.bridge_ports.iter().enumerate() {
            text(|| format!("links[{i}].bridge_ports[{j}]"), p, MAX_IFNAME)?;
        }
        if let Some(b) = &l.bond {
            text(
                || format!("links[{i}].bond.mode"),
                b.mode.as_str(),
                MAX_SHORT_TEXT,
            )?;
            list(
                &format!("links[{i}].bond.slaves"),
                b.slaves.len(),
                MAX_MEMBERS,
            )?;
            for (j, s) in b.slaves.iter().enumerate() {
                text(|| format!("links[{i}].bond.slaves[{j}]"), s, MAX_IFNAME)?;
            }
        }
    }
    for (i, a) in o.addresses.iter().enumerate() {
        text(|| format!("addresses[{i}].link"), &a.link, MAX_IFNAME)?;
        text(
            || format!("addresses[{i}].scope"),
            a.scope.as_str(),
            MAX_SHORT_TEXT,
        )?;
    }
    for (i, r) in o.routes.iter().enumerate() {
        text(
            || format!("routes[{i}].route_type"),
            r.route_type.as_str(),
            MAX_SHORT_TEXT,
        )?;
        opt(|| format!("routes[{i}].oif"), &r.oif, MAX_IFNAME)?;
        text(
            || format!("routes[{i}].protocol"),
            r.protocol.as_str(),
            MAX_SHORT_TEXT,
        )?;
        text(
            || format!("routes[{i}].scope"),
            r.scope.as_str(),
            MAX_SHORT_TEXT,
        )?;
    }
    for (i, g) in o.default_gateways.iter().enumerate() {
        opt(|| format!("default_gateways[{i}].oif"), &g.oif, MAX_IFNAME)?;
    }
    Ok(())
}

/// Why a bounded file read failed.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    /// The file could not be opened or read.
    #[error("cannot read {path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// The OS error.
        source: std::io::Error,
    },
    /// Not a regular file (a FIFO, a device such as /dev/zero, a socket, a directory).
    #[error("{path} is not a regular file (a FIFO, device or directory cannot be read as input)")]
    NotRegular {
        /// The file.
        path: String,
    },
    /// Larger than the limit.
    #[error("{path} is larger than the limit of {max} bytes")]
    TooLarge {
        /// The file.
        path: String,
        /// The limit.
        max: u64,
    },
}

/// Reads a regular file of at most `max` bytes. A FIFO, a device (`/dev/zero`) or a file that
/// grows past `max` while being read is refused instead of being read until memory runs out:
/// the type is checked on the opened file and the read itself stops at `max + 1` bytes.
pub fn read_bounded(path: &Path, max: u64) -> Result<Vec<u8>, ReadError> {
    let p = || path.display().to_string();
    let io = |source| ReadError::Io { path: p(), source };
    // O_NONBLOCK so that opening a FIFO with no writer does not hang; cleared by not using it
    // for anything else (regular files ignore it).
    let f = open_nonblocking(path).map_err(io)?;
    let meta = f.metadata().map_err(io)?;
    if !meta.is_file() {
        return Err(ReadError::NotRegular { path: p() });
    }
    if meta.len() > max {
        return Err(ReadError::TooLarge { path: p(), max });
    }
    let mut out = Vec::with_capacity(meta.len() as usize);
    f.take(max + 1).read_to_end(&mut out).map_err(io)?;
    if out.len() as u64 > max {
        return Err(ReadError::TooLarge { path: p(), max });
    }
    Ok(out)
}

/// [`read_bounded`] as UTF-8 text; invalid UTF-8 names the byte offset.
pub fn read_bounded_text(path: &Path, max: u64) -> Result<String, ReadError> {
    let bytes = read_bounded(path, max)?;
    String::from_utf8(bytes).map_err(|e| ReadError::Io {
        path: path.display().to_string(),
        source: std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!(
                "not UTF-8 text (invalid byte at offset {})",
                e.utf8_error().valid_up_to()
            ),
        ),
    })
}

#[cfg(unix)]
fn open_nonblocking(path: &Path) -> std::io::Result<std::fs::File> {
    use std::os::unix::fs::OpenOptionsExt;
    // 0o4000 is O_NONBLOCK on Linux (every architecture Rust targets there but alpha/sparc).
    std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(0o4000)
        .open(path)
}

#[cfg(not(unix))]
fn open_nonblocking(path: &Path) -> std::io::Result<std::fs::File> {
    std::fs::File::open(path)
}

/// Formats a SHA-256 digest as a certificate fingerprint: `SHA256:` and 64 lowercase hex digits.
pub fn format_fingerprint(digest: &[u8]) -> String {
    let mut s = String::from("SHA256:");
    for b in digest {
        s.push_str(&format!("{b:02x}"));
    }
    s
}

/// Parses a fingerprint as [`format_fingerprint`] writes it (the `SHA256:` prefix optional,
/// hex in either case, colons allowed between bytes).
pub fn parse_fingerprint(s: &str) -> Result<[u8; 32], String> {
    let t = s.trim();
    let t = t
        .strip_prefix("SHA256:")
        .or_else(|| t.strip_prefix("sha256:"))
        .unwrap_or(t);
    let hex: String = t.chars().filter(|&c| c != ':').collect();
    if hex.len() != 64 || !hex.chars().all(|c| c.is_ascii_hexdigit()) {
        return Err(format!(
            "{s:?} is not a SHA-256 fingerprint (expected SHA256: and 64 hex digits)"
        ));
    }
    let mut out = [0u8; 32];
    for (i, b) in out.iter_mut().enumerate() {
        *b = u8::from_str_radix(&hex[2 * i..2 * i + 2], 16)
            .map_err(|_| format!("{s:?} is not a SHA-256 fingerprint"))?;
    }
    Ok(out)
}

/// Replaces control characters (terminal escapes, newlines, NUL) in text that came from a
/// peer, so printing it cannot rewrite the terminal or forge log lines; caps its length.
pub fn printable(s: &str, max_chars: usize) -> String {
    let mut out: String = s
        .chars()
        .take(max_chars)
        .map(|c| if c.is_control() { '?' } else { c })
        .collect();
    if s.chars().count() > max_chars {
        out.push('…');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fingerprints_round_trip_in_every_spelling() {
        let d: Vec<u8> = (0..32).collect();
        let f = format_fingerprint(&d);
        assert!(f.starts_with("SHA256:000102"));
        assert_eq!(parse_fingerprint(&f).unwrap().to_vec(), d);
        let colons = f.as_bytes()[7..]
            .chunks(2)
            .map(|c| std::str::from_utf8(c).unwrap().to_uppercase())
            .collect::<Vec<_>>()
            .join(":");
        assert_eq!(parse_fingerprint(&colons).unwrap().to_vec(), d);
        assert!(parse_fingerprint("SHA256:abc").is_err());
        assert!(parse_fingerprint(&format!("SHA256:{}", "zz".repeat(32))).is_err());
    }

    #[test]
    fn printable_strips_escapes_and_caps() {
        assert_eq!(printable("a\x1b[2Jb\nc", 100), "a?[2Jb?c");
        assert_eq!(printable("abcdef", 3), "abc…");
    }

    #[test]
    fn fifo_and_devices_are_refused_and_big_files_stop_at_the_cap() {
        let dir = std::env::temp_dir().join(format!("pf-limits-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let fifo = dir.join("fifo");
        let _ = std::fs::remove_file(&fifo);
        let c = std::ffi::CString::new(fifo.to_str().unwrap()).unwrap();
        // SAFETY: a valid NUL-terminated path.
        assert_eq!(unsafe { libc_mkfifo(c.as_ptr(), 0o600) }, 0);
        assert!(matches!(
            read_bounded(&fifo, 10),
            Err(ReadError::NotRegular { .. })
        ));
        assert!(matches!(
            read_bounded(Path::new("/dev/zero"), 10),
            Err(ReadError::NotRegular { .. })
        ));
        let big = dir.join("big");
        std::fs::write(&big, vec![b'x'; 11]).unwrap();
        assert!(matches!(
            read_bounded(&big, 10),
            Err(ReadError::TooLarge { max: 10, .. })
        ));
        assert_eq!(read_bounded(&big, 11).unwrap().len(), 11);
        std::fs::write(&big, b"ok\xff").unwrap();
        let e = read_bounded_text(&big, 10).unwrap_err().to_string();
        assert!(e.contains("offset 2"), "{e}");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    extern "C" {
        #[link_name = "mkfifo"]
        fn libc_mkfifo(path: *const std::ffi::c_char, mode: u32) -> i32;
    }
}
