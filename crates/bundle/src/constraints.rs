//! Juju constraint strings (`cores=4 mem=8G spaces=public,^storage tags=^virtual zones=a,b`),
//! parsed with Juju's rules: space-separated `key=value`, each key once, lists comma-separated,
//! `^` negates a space or a tag, sizes in MiB with the suffixes M, G, T and P.

use std::collections::BTreeMap;
use std::fmt;

/// Constraints of an application or a bundle machine.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Constraints {
    /// `arch=`.
    pub arch: Option<String>,
    /// `cores=` (or the legacy `cpu-cores=`).
    pub cores: Option<u64>,
    /// `cpu-power=` (Juju: 100 per GHz of one core).
    pub cpu_power: Option<u64>,
    /// `mem=` in MiB.
    pub mem_mib: Option<u64>,
    /// `root-disk=` in MiB.
    pub root_disk_mib: Option<u64>,
    /// `tags=` without `^`.
    pub tags: Vec<String>,
    /// `tags=` with `^`.
    pub not_tags: Vec<String>,
    /// `spaces=` without `^`.
    pub spaces: Vec<String>,
    /// `spaces=` with `^`.
    pub not_spaces: Vec<String>,
    /// `zones=`, when given.
    pub zones: Option<Vec<String>>,
    /// The other keys Juju knows (container, instance-type, virt-type, ...), not evaluated on MAAS.
    pub other: BTreeMap<String, String>,
}

/// A constraint string Juju would reject.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct ConstraintError(pub String);

/// Keys Juju accepts that preflight does not evaluate against MAAS machines.
const OTHER_KEYS: &[&str] = &[
    "container",
    "instance-type",
    "virt-type",
    "root-disk-source",
    "allocate-public-ip",
    "image",
    "instance-role",
];

impl Constraints {
    /// Parses a constraint string.
    pub fn parse(s: &str) -> Result<Constraints, ConstraintError> {
        let mut c = Constraints::default();
        let mut seen = std::collections::BTreeSet::new();
        for term in s.split_whitespace() {
            let Some((key, value)) = term.split_once('=') else {
                return Err(ConstraintError(format!(
                    "malformed constraint {term:?}: expected key=value"
                )));
            };
            if !seen.insert(key.to_string()) {
                return Err(ConstraintError(format!(
                    "bad {key:?} constraint: already set"
                )));
            }
            let bad = |why: String| ConstraintError(format!("bad {key:?} constraint: {why}"));
            match key {
                "arch" => c.arch = non_empty(value).map(str::to_string),
                "cores" | "cpu-cores" => c.cores = parse_count(value).map_err(bad)?,
                "cpu-power" => c.cpu_power = parse_count(value).map_err(bad)?,
                "mem" => c.mem_mib = parse_size(value).map_err(bad)?,
                "root-disk" => c.root_disk_mib = parse_size(value).map_err(bad)?,
                "tags" => {
                    let (pos, neg) = split_list(value, true).map_err(bad)?;
                    c.tags = pos;
                    c.not_tags = neg;
                }
                "spaces" => {
                    let (pos, neg) = split_list(value, true).map_err(bad)?;
                    c.spaces = pos;
                    c.not_spaces = neg;
                }
                "zones" => {
                    let (pos, _) = split_list(value, false).map_err(bad)?;
                    c.zones = if pos.is_empty() { None } else { Some(pos) };
                }
                k if OTHER_KEYS.contains(&k) => {
                    c.other.insert(k.to_string(), value.to_string());
                }
                k => {
                    return Err(ConstraintError(format!("unknown constraint {k:?}")));
                }
            }
        }
        for s in &c.spaces {
            if c.not_spaces.contains(s) {
                return Err(ConstraintError(format!(
                    "bad \"spaces\" constraint: space {s:?} is both included and excluded"
                )));
            }
        }
        for t in &c.tags {
            if c.not_tags.contains(t) {
                return Err(ConstraintError(format!(
                    "bad \"tags\" constraint: tag {t:?} is both included and excluded"
                )));
            }
        }
        Ok(c)
    }

    /// Whether no constraint is set.
    pub fn is_empty(&self) -> bool {
        *self == Constraints::default()
    }
}

impl fmt::Display for Constraints {
    /// Writes the constraints back in Juju's syntax.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut parts: Vec<String> = Vec::new();
        if let Some(a) = &self.arch {
            parts.push(format!("arch={a}"));
        }
        if let Some(v) = self.cores {
            parts.push(format!("cores={v}"));
        }
        if let Some(v) = self.cpu_power {
            parts.push(format!("cpu-power={v}"));
        }
        if let Some(v) = self.mem_mib {
            parts.push(format!("mem={}", format_size(v)));
        }
        if let Some(v) = self.root_disk_mib {
            parts.push(format!("root-disk={}", format_size(v)));
        }
        let list = |pos: &[String], neg: &[String]| {
            pos.iter()
                .cloned()
                .chain(neg.iter().map(|n| format!("^{n}")))
                .collect::<Vec<_>>()
                .join(",")
        };
        if !self.tags.is_empty() || !self.not_tags.is_empty() {
            parts.push(format!("tags={}", list(&self.tags, &self.not_tags)));
        }
        if !self.spaces.is_empty() || !self.not_spaces.is_empty() {
            parts.push(format!("spaces={}", list(&self.spaces, &self.not_spaces)));
        }
        if let Some(z) = &self.zones {
            parts.push(format!("zones={}", z.join(",")));
        }
        for (k, v) in &self.other {
            parts.push(format!("{k}={v}"));
        }
        f.write_str(&parts.join(" "))
    }
}

/// Formats MiB with the largest exact suffix, as Juju prints sizes.
pub fn format_size(mib: u64) -> String {
    const UNITS: [(u64, &str); 3] = [(1 << 30, "P"), (1 << 20, "T"), (1 << 10, "G")];
    for (div, suffix) in UNITS {
        if mib >= div && mib.is_multiple_of(div) {
            return format!("{}{suffix}", mib / div);
        }
    }
    format!("{mib}M")
}

fn non_empty(v: &str) -> Option<&str> {
    if v.is_empty() {
        None
    } else {
        Some(v)
    }
}

fn parse_count(v: &str) -> Result<Option<u64>, String> {
    if v.is_empty() {
        return Ok(None);
    }
    v.parse::<u64>()
        .map(Some)
        .map_err(|_| format!("must be a non-negative integer, not {v:?}"))
}

/// Parses a Juju size: a non-negative number with an optional suffix M, G, T or P (MiB default).
pub fn parse_size(v: &str) -> Result<Option<u64>, String> {
    if v.is_empty() {
        return Ok(None);
    }
    let (num, mult) = match v.chars().last() {
        Some(c @ ('M' | 'G' | 'T' | 'P' | 'm' | 'g' | 't' | 'p')) => (
            &v[..v.len() - 1],
            match c.to_ascii_uppercase() {
                'M' => 1.0,
                'G' => 1024.0,
                'T' => 1024.0 * 1024.0,
                _ => 1024.0 * 1024.0 * 1024.0,
            },
        ),
        _ => (v, 1.0),
    };
    let n: f64 = num.parse().map_err(|_| {
        format!("must be a non-negative number with an optional suffix M, G, T or P, not {v:?}")
    })?;
    if !n.is_finite() || n < 0.0 {
        return Err(format!("must be a non-negative number, not {v:?}"));
    }
    let mib = (n * mult).ceil();
    if mib > u64::MAX as f64 / 2.0 {
        return Err(format!("{v:?} is too large"));
    }
    Ok(Some(mib as u64))
}

fn split_list(v: &str, allow_neg: bool) -> Result<(Vec<String>, Vec<String>), String> {
    let mut pos = Vec::new();
    let mut neg = Vec::new();
    for item in v.split(',') {
        if item.is_empty() {
            if v.is_empty() {
                continue;
            }
            return Err(format!("empty item in {v:?}"));
        }
        match item.strip_prefix('^') {
            Some(n) if allow_neg => {
                if n.is_empty() {
                    return Err(format!("empty item in {v:?}"));
                }
                neg.push(n.to_string())
            }
            Some(_) => return Err(format!("{item:?} cannot be negated")),
            None => pos.push(item.to_string()),
        }
    }
    Ok((pos, neg))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_every_evaluated_key() {
        let c = Constraints::parse(
            "arch=arm64 cores=4 cpu-power=200 mem=8G root-disk=1.5T tags=ssd,^virtual spaces=public,^storage zones=a,b",
        )
        .unwrap();
        assert_eq!(c.arch.as_deref(), Some("arm64"));
        assert_eq!(c.cores, Some(4));
        assert_eq!(c.cpu_power, Some(200));
        assert_eq!(c.mem_mib, Some(8192));
        assert_eq!(c.root_disk_mib, Some(1_572_864));
        assert_eq!(c.tags, vec!["ssd"]);
        assert_eq!(c.not_tags, vec!["virtual"]);
        assert_eq!(c.spaces, vec!["public"]);
        assert_eq!(c.not_spaces, vec!["storage"]);
        assert_eq!(c.zones, Some(vec!["a".into(), "b".into()]));
    }

    #[test]
    fn sizes_and_suffixes() {
        assert_eq!(parse_size("512").unwrap(), Some(512));
        assert_eq!(parse_size("512M").unwrap(), Some(512));
        assert_eq!(parse_size("4G").unwrap(), Some(4096));
        assert_eq!(parse_size("2T").unwrap(), Some(2 * 1024 * 1024));
        assert_eq!(parse_size("1P").unwrap(), Some(1024 * 1024 * 1024));
        assert_eq!(parse_size("0.5G").unwrap(), Some(512));
        assert!(parse_size("4X").is_err());
        assert!(parse_size("-1G").is_err());
        assert!(parse_size("G").is_err());
        assert!(parse_size("1e300P").is_err());
    }

    #[test]
    fn cpu_cores_alias_and_empty_values() {
        let c = Constraints::parse("cpu-cores=2 spaces= mem=").unwrap();
        assert_eq!(c.cores, Some(2));
        assert!(c.spaces.is_empty() && c.mem_mib.is_none());
    }

    #[test]
    fn rejects_what_juju_rejects() {
        for bad in [
            "mem",
            "mem=4G mem=8G",
            "flavour=big",
            "cores=two",
            "zones=^a",
            "spaces=a,^a",
            "spaces=a,,b",
            "tags=^",
        ] {
            assert!(Constraints::parse(bad).is_err(), "{bad} accepted");
        }
    }

    #[test]
    fn display_round_trips() {
        let s = "arch=amd64 cores=2 mem=8G root-disk=16G tags=a,^b spaces=x,^y zones=z1";
        let c = Constraints::parse(s).unwrap();
        assert_eq!(c.to_string(), s);
        assert_eq!(Constraints::parse(&c.to_string()).unwrap(), c);
        assert!(Constraints::parse("").unwrap().is_empty());
    }
}
