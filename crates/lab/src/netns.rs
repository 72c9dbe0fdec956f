//! Named network namespaces that remove themselves: the building block of the lab and of
//! every namespace test.
//!
//! Names are unique per process (`pf<pid>-<counter>-<tag>`), so parallel tests never collide,
//! and a [`Netns`] deletes its namespace when dropped, including on panic.

use std::ffi::OsStr;
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};

/// Prefix of every namespace this crate creates (for `cleanup_leftovers`).
pub const NAME_PREFIX: &str = "pf";

static COUNTER: AtomicU32 = AtomicU32::new(0);

/// Errors of namespace handling.
#[derive(Debug, thiserror::Error)]
pub enum NetnsError {
    /// A command could not be started.
    #[error("could not run {command}: {source}")]
    Spawn {
        /// The command line.
        command: String,
        /// The OS error.
        source: std::io::Error,
    },
    /// A command exited with an error.
    #[error("{command} failed ({status}): {stderr}")]
    Failed {
        /// The command line.
        command: String,
        /// Its exit status.
        status: String,
        /// What it printed on stderr.
        stderr: String,
    },
}

/// Runs a command to completion, capturing its output; an error when it exits non-zero.
pub fn run<I, S>(program: &str, args: I) -> Result<Output, NetnsError>
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    let args: Vec<_> = args.into_iter().map(|a| a.as_ref().to_owned()).collect();
    let command = format!(
        "{program} {}",
        args.iter()
            .map(|a| a.to_string_lossy())
            .collect::<Vec<_>>()
            .join(" ")
    );
    let out = Command::new(program)
        .args(&args)
        .stdin(Stdio::null())
        .output()
        .map_err(|source| NetnsError::Spawn {
            command: command.clone(),
            source,
        })?;
    if out.status.success() {
        Ok(out)
    } else {
        Err(NetnsError::Failed {
            command,
            status: out.status.to_string(),
            stderr: String::from_utf8_lossy(&out.stderr).trim().to_string(),
        })
    }
}

/// A network namespace, deleted when dropped.
#[derive(Debug)]
pub struct Netns {
    name: String,
}

impl Netns {
    /// Creates a namespace with a unique name ending in `tag`, with loopback up.
    pub fn new(tag: &str) -> Result<Netns, NetnsError> {
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let name = format!("{NAME_PREFIX}{}-{n}-{tag}", std::process::id());
        run("ip", ["netns", "add", &name])?;
        let ns = Netns { name };
        ns.ip(["link", "set", "lo", "up"])?;
        Ok(ns)
    }

    /// The namespace's name, as `ip netns` knows it.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Runs `ip ARGS` inside the namespace.
    pub fn ip<I, S>(&self, args: I) -> Result<Output, NetnsError>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        let mut all: Vec<std::ffi::OsString> = vec!["-n".into(), self.name.clone().into()];
        all.extend(args.into_iter().map(|a| a.as_ref().to_owned()));
        run("ip", all)
    }

    /// Runs a whitespace-separated `ip` command line inside the namespace (test convenience).
    pub fn ip_line(&self, line: &str) -> Result<Output, NetnsError> {
        self.ip(line.split_whitespace())
    }

    /// Runs `PROGRAM ARGS` inside the namespace (`ip netns exec`).
    pub fn exec<I, S>(&self, program: &str, args: I) -> Result<Output, NetnsError>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        let mut all: Vec<std::ffi::OsString> = vec![
            "netns".into(),
            "exec".into(),
            self.name.clone().into(),
            program.into(),
        ];
        all.extend(args.into_iter().map(|a| a.as_ref().to_owned()));
        run("ip", all)
    }

    /// A `Command` that will run `program` inside the namespace, for callers that need to
    /// stream output or run in the background.
    pub fn command(&self, program: &str) -> Command {
        let mut c = Command::new("ip");
        c.args(["netns", "exec", &self.name, program]);
        c
    }

    /// Applies an nftables ruleset (text, as `nft -f -` reads it) inside the namespace.
    pub fn nft(&self, ruleset: &str) -> Result<(), NetnsError> {
        let mut cmd = self.command("nft");
        cmd.args(["-f", "-"]);
        let command = format!("ip netns exec {} nft -f -", self.name);
        run_with_stdin(cmd, command, ruleset).map(|_| ())
    }
}

/// Runs `cmd` with `input` on its standard input and waits for it; its output when it exits
/// 0, else an error that names it as `command` and carries its stderr.
pub fn run_with_stdin(
    mut cmd: Command,
    command: String,
    input: &str,
) -> Result<Output, NetnsError> {
    use std::io::Write;
    let spawn_err = |command: &String| {
        let command = command.clone();
        move |source| NetnsError::Spawn { command, source }
    };
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(spawn_err(&command))?;
    if let Some(mut stdin) = child.stdin.take() {
        stdin
            .write_all(input.as_bytes())
            .map_err(spawn_err(&command))?;
    }
    let out = child.wait_with_output().map_err(spawn_err(&command))?;
    if out.status.success() {
        Ok(out)
    } else {
        Err(NetnsError::Failed {
            command,
            status: out.status.to_string(),
            stderr: String::from_utf8_lossy(&out.stderr).trim().to_string(),
        })
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = Command::new("ip")
            .args(["netns", "del", &self.name])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
    }
}

/// Connects two namespaces with a veth pair (`a_if` in `a`, `b_if` in `b`), both ends up.
pub fn veth_between(a: &Netns, a_if: &str, b: &Netns, b_if: &str) -> Result<(), NetnsError> {
    a.ip([
        "link",
        "add",
        a_if,
        "type",
        "veth",
        "peer",
        "name",
        b_if,
        "netns",
        b.name(),
    ])?;
    a.ip(["link", "set", a_if, "up"])?;
    b.ip(["link", "set", b_if, "up"])?;
    Ok(())
}

/// Whether the current process may create namespaces (root with `ip` available).
pub fn can_create() -> bool {
    // SAFETY: geteuid has no preconditions and cannot fail.
    let root = unsafe { libc::geteuid() } == 0;
    root && Command::new("ip")
        .arg("-V")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .map(|s| s.success())
        .unwrap_or(false)
}

/// Deletes every namespace whose name starts with `prefix` (leftovers of killed runs).
pub fn cleanup_leftovers(prefix: &str) -> Result<Vec<String>, NetnsError> {
    let out = run("ip", ["netns", "list"])?;
    let mut removed = Vec::new();
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        let Some(name) = line.split_whitespace().next() else {
            continue;
        };
        if name.starts_with(prefix) {
            run("ip", ["netns", "del", name])?;
            removed.push(name.to_string());
        }
    }
    Ok(removed)
}

/// The pid encoded in a lab namespace name (`pf<pid>-<n>-<tag>`), when it is one.
pub fn owner_pid(name: &str) -> Option<u32> {
    let rest = name.strip_prefix(NAME_PREFIX)?;
    let (pid, _) = rest.split_once('-')?;
    pid.parse().ok()
}

/// Deletes the lab namespaces whose creating process is gone (leftovers of killed runs),
/// leaving those of running processes alone. Returns the names removed.
pub fn cleanup_stale() -> Result<Vec<String>, NetnsError> {
    let out = run("ip", ["netns", "list"])?;
    let mut removed = Vec::new();
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        let Some(name) = line.split_whitespace().next() else {
            continue;
        };
        let Some(pid) = owner_pid(name) else {
            continue;
        };
        if std::path::Path::new(&format!("/proc/{pid}")).exists() {
            continue;
        }
        run("ip", ["netns", "del", name])?;
        removed.push(name.to_string());
    }
    Ok(removed)
}

/// A TCP listener bound to `addr` inside `ns` (from a short-lived thread that joined the
/// namespace; the socket stays in it). The kernel completes handshakes from the backlog, so
/// nothing needs to accept: enough for a port that must be open (a Juju controller's API).
pub fn listen_in(ns: &Netns, addr: std::net::SocketAddr) -> std::io::Result<std::net::TcpListener> {
    use std::os::fd::AsRawFd;
    let path = format!("/run/netns/{}", ns.name());
    std::thread::spawn(move || {
        let f = std::fs::File::open(&path)?;
        // SAFETY: setns on a valid namespace fd only changes this (short-lived) thread.
        if unsafe { libc::setns(f.as_raw_fd(), libc::CLONE_NEWNET) } != 0 {
            return Err(std::io::Error::last_os_error());
        }
        std::net::TcpListener::bind(addr)
    })
    .join()
    .map_err(|_| std::io::Error::other("listener thread panicked"))?
}

/// A UDP socket bound to `addr` inside `ns` (as [`listen_in`] does for TCP).
pub fn udp_in(ns: &Netns, addr: std::net::SocketAddr) -> std::io::Result<std::net::UdpSocket> {
    use std::os::fd::AsRawFd;
    let path = format!("/run/netns/{}", ns.name());
    std::thread::spawn(move || {
        let f = std::fs::File::open(&path)?;
        // SAFETY: setns on a valid namespace fd only changes this (short-lived) thread.
        if unsafe { libc::setns(f.as_raw_fd(), libc::CLONE_NEWNET) } != 0 {
            return Err(std::io::Error::last_os_error());
        }
        std::net::UdpSocket::bind(addr)
    })
    .join()
    .map_err(|_| std::io::Error::other("socket thread panicked"))?
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn namespace_is_created_and_removed() {
        assert!(can_create(), "namespace tests need root and iproute2");
        let name;
        {
            let a = Netns::new("t").expect("create a");
            let b = Netns::new("t").expect("create b");
            name = a.name().to_string();
            veth_between(&a, "va", &b, "vb").expect("veth");
            a.ip_line("addr add 10.250.0.1/30 dev va").expect("addr a");
            b.ip_line("addr add 10.250.0.2/30 dev vb").expect("addr b");
            let out = a.exec("ip", ["-j", "addr", "show", "va"]).expect("show");
            assert!(String::from_utf8_lossy(&out.stdout).contains("10.250.0.1"));
        }
        let list = run("ip", ["netns", "list"]).expect("list");
        assert!(!String::from_utf8_lossy(&list.stdout).contains(&name));
    }

    #[test]
    fn stale_cleanup_removes_dead_owners_only() {
        assert_eq!(owner_pid("pf123-4-node1"), Some(123));
        assert_eq!(owner_pid("other"), None);
        assert_eq!(owner_pid("pfx-1-a"), None);
        let live = Netns::new("live").expect("live");
        // A namespace named as if made by a process that no longer exists (pid_max < 2^22+1).
        let dead = format!("{NAME_PREFIX}4194305-0-dead{}", std::process::id());
        run("ip", ["netns", "add", &dead]).expect("add dead");
        let removed = cleanup_stale().expect("cleanup");
        assert!(removed.contains(&dead), "{removed:?}");
        assert!(!removed.iter().any(|n| n == live.name()));
        let list = run("ip", ["netns", "list"]).expect("list");
        let list = String::from_utf8_lossy(&list.stdout);
        assert!(list.contains(live.name()) && !list.contains(&dead));
    }
}
