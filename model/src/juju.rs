//! Names as Juju sees them. Juju renames provider (MAAS) spaces with its `ConvertSpaceName`
//! (juju `core/network/space.go`) when it discovers them (space reload, and the MAAS provider's
//! addresses), so a bundle must bind to the converted name, not the MAAS one.

use std::collections::{BTreeMap, BTreeSet};

use crate::provider::ProviderModel;

/// Juju's `ConvertSpaceName`: spaces become `-`, upper case becomes lower case, every
/// character outside `[a-z0-9-]` is dropped, leading and trailing dashes are trimmed, runs of
/// dashes collapse to one, an empty result becomes `empty`, and a name already in `existing`
/// gets the first free suffix `-2`, `-3`, ...
pub fn convert_space_name(name: &str, existing: &BTreeSet<String>) -> String {
    let lowered = name.replace(' ', "-").to_lowercase();
    let kept: String = lowered
        .chars()
        .filter(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '-')
        .collect();
    let trimmed = kept.trim_matches('-');
    let mut out = String::with_capacity(trimmed.len());
    for c in trimmed.chars() {
        if c == '-' && out.ends_with('-') {
            continue;
        }
        out.push(c);
    }
    if out.is_empty() {
        out = "empty".into();
    }
    if existing.contains(&out) {
        let mut n = 2u64;
        while existing.contains(&format!("{out}-{n}")) {
            n += 1;
        }
        out = format!("{out}-{n}");
    }
    out
}

/// The Juju names of provider spaces given in discovery order: each converted against the
/// names converted before it (Juju adds each new name to the set it checks collisions in).
pub fn juju_space_names<'a>(maas_names: impl IntoIterator<Item = &'a str>) -> Vec<String> {
    let mut seen = BTreeSet::new();
    maas_names
        .into_iter()
        .map(|n| {
            let j = convert_space_name(n, &seen);
            seen.insert(j.clone());
            j
        })
        .collect()
}

impl ProviderModel {
    /// The Juju name of every MAAS space, by space id: converted in id order (the order MAAS
    /// lists spaces in), each against the names converted before it.
    pub fn juju_space_names(&self) -> BTreeMap<i64, String> {
        let ids: Vec<i64> = self.spaces.keys().copied().collect();
        let names = juju_space_names(self.spaces.values().map(|s| s.name.as_str()));
        ids.into_iter().zip(names).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn c(s: &str) -> String {
        convert_space_name(s, &BTreeSet::new())
    }

    #[test]
    fn converts_like_juju() {
        assert_eq!(c("Public-Space"), "public-space");
        assert_eq!(c("public_space"), "publicspace");
        assert_eq!(c("My Space"), "my-space");
        assert_eq!(c("--a--b--"), "a-b");
        assert_eq!(c("a - b"), "a-b");
        assert_eq!(c("___"), "empty");
        assert_eq!(c(""), "empty");
        assert_eq!(c("ÄÖ-x"), "x");
        assert_eq!(c("db2"), "db2");
    }

    #[test]
    fn collisions_get_numbered_suffixes() {
        assert_eq!(
            juju_space_names(["Public", "public", "PUBLIC", "public-2"]),
            ["public", "public-2", "public-3", "public-2-2"]
        );
        assert_eq!(juju_space_names(["!", "?"]), ["empty", "empty-2"]);
    }
}
