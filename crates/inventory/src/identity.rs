//! Who observes: hostname, /etc/machine-id, the MAAS system_id given, agent version, time.

use preflight_model::observed::Identity;

/// Version of the agent (the workspace version, shared by every crate of preflight).
pub const AGENT_VERSION: &str = env!("CARGO_PKG_VERSION");

const MACHINE_ID_PATH: &str = "/etc/machine-id";

/// The identity of this machine now, with the MAAS `system_id` when given.
pub fn identity(system_id: Option<String>) -> Identity {
    Identity {
        hostname: hostname(),
        machine_id: read_machine_id(MACHINE_ID_PATH),
        system_id,
        agent_version: AGENT_VERSION.to_string(),
        observed_at: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
    }
}

/// The kernel's hostname (uname nodename), lossily decoded; empty when it cannot be read.
fn hostname() -> String {
    let mut buf = [0u8; 256];
    // SAFETY: the pointer and length describe a writable buffer we own; gethostname writes at
    // most that many bytes.
    let rc = unsafe { libc::gethostname(buf.as_mut_ptr().cast(), buf.len()) };
    if rc != 0 {
        return String::new();
    }
    crate::names::lossy_string(&buf[..])
}

/// The first line of a machine-id file, when the file exists and the line is not empty.
pub(crate) fn read_machine_id(path: &str) -> Option<String> {
    let text = std::fs::read(path).ok()?;
    let line = String::from_utf8_lossy(&text);
    let id = line.lines().next()?.trim();
    (!id.is_empty()).then(|| id.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identity_has_version_time_and_given_system_id() {
        let id = identity(Some("abc123".into()));
        assert_eq!(id.system_id.as_deref(), Some("abc123"));
        assert_eq!(id.agent_version, env!("CARGO_PKG_VERSION"));
        assert!(chrono::DateTime::parse_from_rfc3339(&id.observed_at).is_ok());
        assert!(id.observed_at.ends_with('Z'));
        let mut expected = [0u8; 256];
        // SAFETY: as in hostname().
        unsafe { libc::gethostname(expected.as_mut_ptr().cast(), expected.len()) };
        assert_eq!(id.hostname, crate::names::lossy_string(&expected));
        assert!(!id.hostname.contains('\0'));
    }

    #[test]
    fn machine_id_file_is_read_trimmed_or_absent() {
        let dir = std::env::temp_dir().join(format!("pf-inv-mid-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let p = dir.join("machine-id");
        std::fs::write(&p, "0123456789abcdef\n").unwrap();
        assert_eq!(
            read_machine_id(p.to_str().unwrap()).as_deref(),
            Some("0123456789abcdef")
        );
        std::fs::write(&p, "\n").unwrap();
        assert_eq!(read_machine_id(p.to_str().unwrap()), None);
        assert_eq!(read_machine_id(dir.join("absent").to_str().unwrap()), None);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
