//! `series`, `base` and `default-base` as each Juju version reads them.
//!
//! * Both versions refuse a series that is not a series name (juju/charm `IsValidSeries`,
//!   `^[a-z]+([a-z0-9]+)?$`: "bundle declares an invalid series").
//! * Juju 3 (`core/base`): a series is converted to a base (`GetBaseFromSeries`), and only the
//!   workload bases Juju 3 supports deploy without `--force`: Ubuntu 20.04 (focal), 22.04
//!   (jammy) and 24.04 (noble), CentOS 7 and 9 (plus `kubernetes` and `genericlinux`).
//!   `base:`/`default-base:` (`name@channel[/risk]`) must parse, and where a series and a base
//!   are both given they must match (`verifyMixedSeriesBasesMatch` in
//!   `cmd/juju/application/bundle/bundle.go`).
//! * Juju 2.9 (`core/series`): its workload series are also trusty, xenial and bionic (under
//!   ESM), CentOS 7, 8 and 9, openSUSE Leap, Windows and `kubernetes`; its bundle data has no
//!   `base`/`default-base` field, so those keys are ignored (an unknown-key warning).
//!
//! Juju refines the support flags at run time from the host's distro-info (a series can drop
//! out when its support ends); the tables here are the built-in ones.

use crate::JujuVersion;

/// Juju's Ubuntu series table (`ubuntuSeries`): name and version, oldest first.
const UBUNTU: &[(&str, &str)] = &[
    ("precise", "12.04"),
    ("quantal", "12.10"),
    ("raring", "13.04"),
    ("saucy", "13.10"),
    ("trusty", "14.04"),
    ("utopic", "14.10"),
    ("vivid", "15.04"),
    ("wily", "15.10"),
    ("xenial", "16.04"),
    ("yakkety", "16.10"),
    ("zesty", "17.04"),
    ("artful", "17.10"),
    ("bionic", "18.04"),
    ("cosmic", "18.10"),
    ("disco", "19.04"),
    ("eoan", "19.10"),
    ("focal", "20.04"),
    ("groovy", "20.10"),
    ("hirsute", "21.04"),
    ("impish", "21.10"),
    ("jammy", "22.04"),
    ("kinetic", "22.10"),
    ("lunar", "23.04"),
    ("mantic", "23.10"),
    ("noble", "24.04"),
];

/// Series Juju 3 deploys workloads on (supported or under ESM).
const WORKLOAD_3: &[&str] = &[
    "focal",
    "jammy",
    "noble",
    "centos7",
    "centos9",
    "kubernetes",
    "genericlinux",
];

/// Series Juju 2.9 deploys workloads on (supported or under ESM).
const WORKLOAD_2_9: &[&str] = &[
    "trusty",
    "xenial",
    "bionic",
    "focal",
    "jammy",
    "noble",
    "centos7",
    "centos8",
    "centos9",
    "opensuseleap",
    "kubernetes",
    "win2008r2",
    "win2012hvr2",
    "win2012hv",
    "win2012r2",
    "win2012",
    "win2016",
    "win2016hv",
    "win2016nano",
    "win2019",
    "win7",
    "win8",
    "win81",
    "win10",
];

/// The workload series of a Juju version.
fn workload(juju: JujuVersion) -> &'static [&'static str] {
    match juju {
        JujuVersion::V2_9 => WORKLOAD_2_9,
        JujuVersion::V3 => WORKLOAD_3,
    }
}

/// juju/charm's `IsValidSeries`: `^[a-z]+([a-z0-9]+)?$`.
fn valid_name(s: &str) -> bool {
    s.bytes().next().is_some_and(|b| b.is_ascii_lowercase())
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
}

/// The base (`ubuntu@22.04`) of a series Juju 3 knows, as `GetBaseFromSeries` converts it.
fn base_of_series(series: &str) -> Option<String> {
    if let Some((_, v)) = UBUNTU.iter().find(|(n, _)| *n == series) {
        return Some(format!("ubuntu@{v}"));
    }
    match series {
        "centos7" => Some("centos@7".into()),
        "centos9" => Some("centos@9".into()),
        "kubernetes" => Some("kubernetes@kubernetes".into()),
        "genericlinux" => Some("genericlinux@genericlinux".into()),
        _ => None,
    }
}

/// The series of a base (`ubuntu@22.04/stable` → `jammy`), as `GetSeriesFromBase` converts it.
fn series_of_base(os: &str, channel: &str) -> Option<&'static str> {
    match os {
        "ubuntu" => UBUNTU.iter().find(|(_, v)| *v == channel).map(|(n, _)| *n),
        "centos" => match channel {
            "7" => Some("centos7"),
            "9" => Some("centos9"),
            _ => None,
        },
        "kubernetes" => Some("kubernetes"),
        "genericlinux" => Some("genericlinux"),
        _ => None,
    }
}

/// Checks a `series` value under `juju`'s rules; `what` names where it is ("bundle",
/// "application \"a\"", "machine \"0\"").
pub(crate) fn check_series(juju: JujuVersion, what: &str, series: &str) -> Result<(), String> {
    if !valid_name(series) {
        return Err(format!(
            "{what} declares an invalid series {series:?} (a series is a lower-case name such as jammy)"
        ));
    }
    if workload(juju).contains(&series) {
        return Ok(());
    }
    let known = match juju {
        JujuVersion::V3 => base_of_series(series).map(|b| format!(" ({b})")),
        JujuVersion::V2_9 => UBUNTU
            .iter()
            .find(|(n, _)| *n == series)
            .map(|(_, v)| format!(" (Ubuntu {v})")),
    };
    match (juju, known) {
        (_, None) => Err(format!(
            "{what} declares series {series:?}, which Juju {juju} does not know (its workload series: {})",
            workload(juju).join(", ")
        )),
        (JujuVersion::V3, Some(b)) => Err(format!(
            "{what} declares series {series:?}{b}, which Juju 3 does not deploy workloads on (its Ubuntu workload series: focal, jammy, noble; `juju deploy --force` overrides): use a supported series, or check with --juju 2.9 for a Juju 2.9 controller"
        )),
        (JujuVersion::V2_9, Some(v)) => Err(format!(
            "{what} declares series {series:?}{v}, which Juju 2.9 does not deploy workloads on (its Ubuntu workload series: trusty, xenial, bionic, focal, jammy, noble; `juju deploy --force` overrides)"
        )),
    }
}

/// Checks a `base`/`default-base` value under Juju 3's rules (`ParseBaseFromString`, then the
/// workload bases) and, when a series is given beside it, that both name the same release.
pub(crate) fn check_base(
    what: &str,
    field: &str,
    base: &str,
    series: Option<&str>,
) -> Result<(), String> {
    let Some((os, channel)) = base.split_once('@') else {
        return Err(format!(
            "{what} has an invalid {field} {base:?}: a base is os@channel, e.g. ubuntu@22.04"
        ));
    };
    let track = channel.split_once('/').map_or(channel, |(t, _)| t);
    if os.is_empty() || track.is_empty() {
        return Err(format!(
            "{what} has an invalid {field} {base:?}: a base is os@channel, e.g. ubuntu@22.04"
        ));
    }
    let Some(of_base) = series_of_base(os, track) else {
        return Err(format!(
            "{what} has {field} {base:?}, which Juju 3 does not know (its workload bases: ubuntu@20.04, ubuntu@22.04, ubuntu@24.04, centos@7, centos@9)"
        ));
    };
    if let Some(s) = series {
        if s != of_base {
            // Juju's own words (verifyMixedSeriesBasesMatch).
            return Err(format!(
                "{what} series {s:?} and base {base:?} must match if both supplied"
            ));
        }
    }
    if !WORKLOAD_3.contains(&of_base) {
        return Err(format!(
            "{what} has {field} {base:?} ({of_base}), which Juju 3 does not deploy workloads on (its Ubuntu workload bases: ubuntu@20.04, ubuntu@22.04, ubuntu@24.04; `juju deploy --force` overrides)"
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn juju_3_deploys_focal_jammy_noble_and_refuses_bionic() {
        for s in ["focal", "jammy", "noble", "centos9"] {
            assert_eq!(check_series(JujuVersion::V3, "bundle", s), Ok(()), "{s}");
        }
        let e = check_series(JujuVersion::V3, "bundle", "bionic").unwrap_err();
        assert!(e.contains("\"bionic\" (ubuntu@18.04)"), "{e}");
        assert!(e.contains("--juju 2.9"), "{e}");
        let e = check_series(JujuVersion::V3, "application \"a\"", "mantic").unwrap_err();
        assert!(
            e.starts_with("application \"a\" declares series \"mantic\""),
            "{e}"
        );
    }

    #[test]
    fn juju_2_9_also_deploys_trusty_xenial_bionic() {
        for s in [
            "trusty", "xenial", "bionic", "focal", "jammy", "noble", "win2019",
        ] {
            assert_eq!(check_series(JujuVersion::V2_9, "bundle", s), Ok(()), "{s}");
        }
        let e = check_series(JujuVersion::V2_9, "bundle", "precise").unwrap_err();
        assert!(
            e.contains("(Ubuntu 12.04)") && e.contains("Juju 2.9"),
            "{e}"
        );
    }

    #[test]
    fn hostile_series_names_are_invalid_in_both() {
        for juju in [JujuVersion::V3, JujuVersion::V2_9] {
            for s in [
                "",
                "Jammy",
                "22.04",
                "jam my",
                "jammy/",
                "ubuntu@22.04",
                "ß",
            ] {
                let e = check_series(juju, "bundle", s).unwrap_err();
                assert!(e.contains("declares an invalid series"), "{s:?}: {e}");
            }
            let e = check_series(juju, "bundle", "plan9").unwrap_err();
            assert!(e.contains("does not know"), "{e}");
        }
    }

    #[test]
    fn bases_parse_match_their_series_and_must_be_workload_bases() {
        assert_eq!(
            check_base("bundle", "default-base", "ubuntu@22.04", None),
            Ok(())
        );
        assert_eq!(
            check_base(
                "bundle",
                "default-base",
                "ubuntu@22.04/stable",
                Some("jammy")
            ),
            Ok(())
        );
        let e = check_base("bundle", "default-base", "ubuntu@22.04", Some("focal")).unwrap_err();
        assert_eq!(
            e,
            "bundle series \"focal\" and base \"ubuntu@22.04\" must match if both supplied"
        );
        let e = check_base("machine \"0\"", "base", "ubuntu@18.04", None).unwrap_err();
        assert!(e.contains("(bionic), which Juju 3 does not deploy"), "{e}");
        for bad in ["ubuntu", "@22.04", "ubuntu@", "jammy"] {
            let e = check_base("bundle", "default-base", bad, None).unwrap_err();
            assert!(e.contains("invalid default-base"), "{bad}: {e}");
        }
        let e = check_base("bundle", "default-base", "ubuntu@22.05", None).unwrap_err();
        assert!(e.contains("does not know"), "{e}");
    }
}
