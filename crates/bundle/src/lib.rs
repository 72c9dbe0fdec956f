//! Step 2 of the data line: the deployment intent of a Juju bundle (with overlays and charm
//! metadata), parsed the way Juju does.
//!
//! [`load`] reads a bundle and its overlays (merged in order with Juju's rules, see
//! [`merge`]), and [`charm::CharmSet`] reads charm metadata. YAML is read by `serde-saphyr`
//! under budgets (file size, depth, nodes, aliases), so hostile input fails fast with an
//! error that names the file, line and column.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

pub mod charm;
pub mod constraints;
mod convert;
pub mod merge;
pub mod yaml;

pub use charm::{CharmMeta, CharmSet};
pub use constraints::Constraints;
pub use yaml::Pos;

/// Juju's default space: endpoints without a binding (and without a `""` default) go here.
pub const ALPHA_SPACE: &str = "alpha";

/// Errors reading a bundle, an overlay or charm metadata. Each names the file and, when the
/// problem is in the content, the line and column.
#[derive(Debug, thiserror::Error)]
pub enum BundleError {
    /// The file could not be read.
    #[error("{}: {source}", file.display())]
    Io {
        /// The file.
        file: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// The file is larger than preflight reads.
    #[error("{}: file is {size} bytes; bundles, overlays and charm metadata are limited to {limit} bytes", file.display())]
    TooLarge {
        /// The file.
        file: PathBuf,
        /// Its size.
        size: u64,
        /// The limit.
        limit: u64,
    },
    /// The YAML is malformed or over a budget (depth, nodes, aliases).
    #[error("{}:{pos}: {message}", file.display())]
    Yaml {
        /// The file.
        file: PathBuf,
        /// Where.
        pos: Pos,
        /// What the parser said.
        message: String,
    },
    /// Valid YAML that is not a valid bundle (wrong type, bad placement, unknown application).
    #[error("{}:{pos}: {field}: {message}", file.display())]
    Invalid {
        /// The file.
        file: PathBuf,
        /// Where.
        pos: Pos,
        /// The field path, e.g. `applications.keystone.num_units`.
        field: String,
        /// What is wrong.
        message: String,
    },
}

/// Something Juju would accept (or only warn about) but the operator should know.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Warning {
    /// The file.
    pub file: PathBuf,
    /// Where.
    pub pos: Pos,
    /// What.
    pub message: String,
}

impl fmt::Display for Warning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}: {}", self.file.display(), self.pos, self.message)
    }
}

/// A bundle after overlays: what `juju deploy BUNDLE --overlay ...` would deploy.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Bundle {
    /// The files read, bundle first, then overlays in order.
    pub sources: Vec<PathBuf>,
    /// Top-level `series`.
    pub series: Option<String>,
    /// Top-level `default-base`.
    pub default_base: Option<String>,
    /// Applications by name.
    pub applications: BTreeMap<String, Application>,
    /// Bundle machines by id (`"0"`, `"1"`, ...).
    pub machines: BTreeMap<String, BundleMachine>,
    /// Relations.
    pub relations: Vec<Relation>,
    /// Warnings (unknown keys, deprecated forms).
    pub warnings: Vec<Warning>,
}

/// One application of a bundle.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Application {
    /// Name in the bundle.
    pub name: String,
    /// Charm URL or name as written (`ch:keystone`, `cs:~user/foo-3`, `./local`).
    pub charm: String,
    /// Channel, when given.
    pub channel: Option<String>,
    /// Units to deploy (`num_units`, or `scale` for Kubernetes bundles).
    pub num_units: u32,
    /// Placement directives (`to:`), as written.
    pub to: Vec<Placement>,
    /// Constraints.
    pub constraints: Constraints,
    /// The constraint string as written, when any.
    pub constraints_raw: Option<String>,
    /// Endpoint bindings.
    pub bindings: Bindings,
    /// `expose`.
    pub expose: bool,
    /// Where the application is defined (file index and position).
    pub pos: Pos,
}

impl Application {
    /// The charm name the URL refers to (`ch:keystone` → `keystone`, `cs:~u/focal/foo-12` → `foo`).
    pub fn charm_name(&self) -> String {
        charm::charm_name_of_url(&self.charm)
    }

    /// The placement of each unit, with Juju's rules: fewer `to:` entries than units repeat the
    /// last entry; no entries mean every unit gets a new machine; an application without a
    /// unit number means the unit after the previous one of that application in the list (or
    /// unit 0).
    pub fn unit_placements(&self) -> Vec<Placement> {
        let n = self.num_units as usize;
        let mut next: BTreeMap<String, u32> = BTreeMap::new();
        (0..n)
            .map(|i| {
                let mut p = self
                    .to
                    .get(i)
                    .or(self.to.last())
                    .cloned()
                    .unwrap_or(Placement::New { container: None });
                if let Placement::Unit {
                    application, unit, ..
                } = &mut p
                {
                    let counter = next.entry(application.clone()).or_insert(0);
                    let u = *unit.get_or_insert(*counter);
                    *counter = u.saturating_add(1);
                }
                p
            })
            .collect()
    }
}

/// Endpoint bindings of an application.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Bindings {
    /// The `""` entry: the space of every endpoint not listed. `None` = Juju's model default.
    pub default: Option<String>,
    /// Explicit endpoint → space.
    pub endpoints: BTreeMap<String, String>,
}

impl Bindings {
    /// The space unlisted endpoints go to (the `""` entry, else [`ALPHA_SPACE`]).
    pub fn default_space(&self) -> &str {
        self.default.as_deref().unwrap_or(ALPHA_SPACE)
    }

    /// Every space the bindings name (the default included), without duplicates.
    pub fn spaces(&self) -> Vec<String> {
        let mut out: Vec<String> = std::iter::once(self.default_space().to_string())
            .chain(self.endpoints.values().cloned())
            .collect();
        out.sort();
        out.dedup();
        out
    }

    /// The space an endpoint is bound to.
    pub fn space_of(&self, endpoint: &str) -> &str {
        self.endpoints
            .get(endpoint)
            .map(String::as_str)
            .unwrap_or_else(|| self.default_space())
    }
}

/// A placement directive (`to:` entry): `[<container>:](new|<machine>|<app>[/<unit>])`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Placement {
    /// A new machine (or a container on one).
    New {
        /// Container type (`lxd`, `kvm`), when in a container.
        container: Option<String>,
    },
    /// A bundle machine (or a container on it).
    Machine {
        /// Container type, when in a container.
        container: Option<String>,
        /// Bundle machine id.
        machine: String,
    },
    /// Beside a unit of another application (or in a container on its machine).
    Unit {
        /// Container type, when in a container.
        container: Option<String>,
        /// Application name.
        application: String,
        /// Unit number; `None` = the next one in order.
        unit: Option<u32>,
    },
}

impl fmt::Display for Placement {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let c = |c: &Option<String>| c.as_ref().map(|c| format!("{c}:")).unwrap_or_default();
        match self {
            Placement::New { container } => write!(f, "{}new", c(container)),
            Placement::Machine { container, machine } => write!(f, "{}{machine}", c(container)),
            Placement::Unit {
                container,
                application,
                unit,
            } => match unit {
                Some(u) => write!(f, "{}{application}/{u}", c(container)),
                None => write!(f, "{}{application}", c(container)),
            },
        }
    }
}

/// A machine of the bundle's `machines:` section.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct BundleMachine {
    /// Id as written (`"0"`).
    pub id: String,
    /// Constraints.
    pub constraints: Constraints,
    /// The constraint string as written, when any.
    pub constraints_raw: Option<String>,
}

/// A relation between two endpoints (`app:endpoint` or `app`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Relation {
    /// First end: application and optional endpoint.
    pub a: (String, Option<String>),
    /// Second end.
    pub b: (String, Option<String>),
}

/// Reads a bundle and its overlays, merges them in order and checks the result as Juju would
/// before deploying (charm set, placements and relations refer to things that exist).
pub fn load(bundle: &Path, overlays: &[PathBuf]) -> Result<Bundle, BundleError> {
    let mut sources = vec![bundle.to_path_buf()];
    sources.extend(overlays.iter().cloned());
    let mut docs = Vec::with_capacity(sources.len());
    for (i, path) in sources.iter().enumerate() {
        let mut node = yaml::parse_file(path)?;
        node.set_file(i as u32);
        docs.push(node);
    }
    from_nodes(sources, docs)
}

/// Parses a bundle and overlays given as text (`(name, text)` pairs, bundle first).
pub fn load_str(parts: &[(&str, &str)]) -> Result<Bundle, BundleError> {
    let mut sources = Vec::new();
    let mut docs = Vec::new();
    for (i, (name, text)) in parts.iter().enumerate() {
        let path = PathBuf::from(name);
        let mut node = yaml::parse_str(&path, text)?;
        node.set_file(i as u32);
        sources.push(path);
        docs.push(node);
    }
    from_nodes(sources, docs)
}

fn from_nodes(sources: Vec<PathBuf>, docs: Vec<yaml::Node>) -> Result<Bundle, BundleError> {
    let mut warnings = Vec::new();
    let mut it = docs.into_iter();
    let Some(first) = it.next() else {
        return Ok(Bundle::default());
    };
    let mut merged = merge::Doc::from_node(&sources, first, &mut warnings)?;
    for overlay in it {
        let o = merge::Doc::from_node(&sources, overlay, &mut warnings)?;
        merged.apply_overlay(o);
    }
    convert::to_bundle(sources, merged, warnings)
}
