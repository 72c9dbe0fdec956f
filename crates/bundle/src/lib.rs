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
mod series;
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
    /// Several problems, each naming its file, line and column (Juju's verification lists
    /// every problem it finds; so does preflight, up to [`MAX_ERRORS`]).
    #[error("{}", many_to_string(errors, *more))]
    Many {
        /// The problems, in the order found.
        errors: Vec<BundleError>,
        /// How many more were found but not kept.
        more: usize,
    },
}

/// Most problems one load reports (the rest are counted).
pub const MAX_ERRORS: usize = 50;

fn many_to_string(errors: &[BundleError], more: usize) -> String {
    let mut s = format!("{} problems:", errors.len() + more);
    for e in errors {
        s.push_str("\n  ");
        s.push_str(&e.to_string());
    }
    if more > 0 {
        s.push_str(&format!("\n  ... and {more} more"));
    }
    s
}

impl BundleError {
    /// The problems one by one (a [`BundleError::Many`] opened up).
    pub fn problems(&self) -> Vec<&BundleError> {
        match self {
            BundleError::Many { errors, .. } => errors.iter().collect(),
            other => vec![other],
        }
    }

    /// One error from a list: the error itself when there is one, else [`BundleError::Many`].
    pub(crate) fn from_list(mut errors: Vec<BundleError>, more: usize) -> Option<BundleError> {
        match (errors.len(), more) {
            (0, _) => None,
            (1, 0) => errors.pop(),
            _ => Some(BundleError::Many { errors, more }),
        }
    }
}

/// Which Juju's rules a bundle is read with (`--juju`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord)]
pub enum JujuVersion {
    /// Juju 2.9: accepts the legacy `services:` and charm store (`cs:`) URLs (with warnings).
    V2_9,
    /// Juju 3.x (the default): refuses `services:` and `cs:` URLs.
    #[default]
    V3,
}

impl std::str::FromStr for JujuVersion {
    type Err = String;
    fn from_str(s: &str) -> Result<JujuVersion, String> {
        let s = s.trim();
        if s == "2.9" || s.starts_with("2.9.") {
            Ok(JujuVersion::V2_9)
        } else if s == "3" || s.starts_with("3.") {
            Ok(JujuVersion::V3)
        } else {
            Err(format!(
                "unsupported Juju version {s:?}: give 2.9 or 3 (3.x rules are the default)"
            ))
        }
    }
}

impl fmt::Display for JujuVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            JujuVersion::V2_9 => "2.9",
            JujuVersion::V3 => "3",
        })
    }
}

/// How [`load_with`] reads a bundle.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LoadOptions {
    /// Whose rules apply.
    pub juju: JujuVersion,
}

/// What a [`Warning`] is about (each kind is a finding code in `preflight validate`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum WarningKind {
    /// A key Juju does not know, which it ignores.
    UnknownKey,
    /// A form the Juju version accepts but deprecates (`services:`, `cs:` with Juju 2.9).
    Deprecated,
    /// A field of the wrong type, which Juju's lenient decoder drops (e.g. a scalar `to:`).
    IgnoredField,
    /// A duplicate key in charm metadata (Juju keeps the last value).
    DuplicateKey,
    /// A `--charm-dir` charm that no application of the bundle uses.
    UnusedCharm,
}

/// Something Juju would accept (or only warn about) but the operator should know.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Warning {
    /// What it is about.
    pub kind: WarningKind,
    /// The application it is in, when it is in one.
    pub application: Option<String>,
    /// The file.
    pub file: PathBuf,
    /// Where.
    pub pos: Pos,
    /// What.
    pub message: String,
}

impl fmt::Display for Warning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.pos.line == 0 {
            write!(f, "{}: {}", self.file.display(), self.message)
        } else {
            write!(f, "{}:{}: {}", self.file.display(), self.pos, self.message)
        }
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
    /// Offers consumed from other models (`saas:`), by the name relations use.
    pub saas: BTreeMap<String, Saas>,
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

    /// The placement of each unit, with Juju's rules (`placeUnitsForApplication` in juju's
    /// `core/bundle/changes/handlers.go`): unit i takes `to[i]`; units beyond the list repeat
    /// the last entry only when it is `new`, `<container>:new` or a bare application name,
    /// otherwise they get new machines; no entries mean every unit gets a new machine. A bare
    /// application name is the unit after the previous one of that application in the list
    /// (or unit 0).
    pub fn unit_placements(&self) -> Vec<Placement> {
        let n = self.num_units as usize;
        let repeat = self.to.last().filter(|p| {
            matches!(
                p,
                Placement::New { .. } | Placement::Unit { unit: None, .. }
            )
        });
        let mut next: BTreeMap<String, u32> = BTreeMap::new();
        (0..n)
            .map(|i| {
                let mut p = self
                    .to
                    .get(i)
                    .or(repeat)
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

/// An offer of another model the bundle consumes (`saas:` entry).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Saas {
    /// Name in the bundle (relations refer to it like to an application).
    pub name: String,
    /// The offer URL, when given.
    pub url: Option<String>,
    /// Where it is defined.
    pub pos: Pos,
}

/// A relation between two endpoints (`app:endpoint` or `app`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Relation {
    /// First end: application and optional endpoint.
    pub a: (String, Option<String>),
    /// Second end.
    pub b: (String, Option<String>),
}

/// Reads a bundle and its overlays with Juju 3 rules (see [`load_with`]).
pub fn load(bundle: &Path, overlays: &[PathBuf]) -> Result<Bundle, BundleError> {
    load_with(bundle, overlays, &LoadOptions::default())
}

/// Reads a bundle and its overlays, merges them in order and checks the result as Juju would
/// before deploying (charm set, placements and relations refer to things that exist, local
/// charm paths exist). A bundle file may hold several YAML documents: the first is the
/// bundle, the others overlays applied before the `overlays` files (as `juju deploy` does).
/// Every problem found is reported (up to [`MAX_ERRORS`]), each with file, line and column.
pub fn load_with(
    bundle: &Path,
    overlays: &[PathBuf],
    options: &LoadOptions,
) -> Result<Bundle, BundleError> {
    let mut sources = vec![bundle.to_path_buf()];
    sources.extend(overlays.iter().cloned());
    let mut docs = Vec::with_capacity(sources.len());
    for (i, path) in sources.iter().enumerate() {
        let text = yaml::read_text(path)?;
        docs.push(file_docs(path, &text, i)?);
    }
    from_nodes(sources, docs, options, true)
}

/// Parses a bundle and overlays given as text (`(name, text)` pairs, bundle first), with
/// Juju 3 rules and without checking local charm paths.
pub fn load_str(parts: &[(&str, &str)]) -> Result<Bundle, BundleError> {
    load_str_with(parts, &LoadOptions::default())
}

/// [`load_str`] with options.
pub fn load_str_with(parts: &[(&str, &str)], options: &LoadOptions) -> Result<Bundle, BundleError> {
    let mut sources = Vec::new();
    let mut docs = Vec::new();
    for (i, (name, text)) in parts.iter().enumerate() {
        let path = PathBuf::from(name);
        docs.push(file_docs(&path, text, i)?);
        sources.push(path);
    }
    from_nodes(sources, docs, options, false)
}

fn file_docs(path: &Path, text: &str, index: usize) -> Result<Vec<yaml::Node>, BundleError> {
    let mut nodes = yaml::parse_documents(path, text)?;
    for n in &mut nodes {
        n.set_file(index as u32);
    }
    Ok(nodes)
}

fn from_nodes(
    sources: Vec<PathBuf>,
    files: Vec<Vec<yaml::Node>>,
    options: &LoadOptions,
    check_paths: bool,
) -> Result<Bundle, BundleError> {
    let mut warnings = Vec::new();
    let mut errors = convert::Errors::default();
    let Some(first_file) = files.first() else {
        return Err(empty_bundle(&sources));
    };
    if first_file.is_empty() {
        return Err(empty_bundle(&sources));
    }
    let mut merged: Option<merge::Doc> = None;
    for node in files.into_iter().flatten() {
        let overlay = merged.is_some();
        let doc =
            merge::Doc::from_node(&sources, node, overlay, options, &mut warnings, &mut errors);
        match &mut merged {
            None => merged = Some(doc),
            Some(m) => m.apply_overlay(doc),
        }
    }
    let merged = merged.unwrap_or_default();
    convert::to_bundle(sources, merged, warnings, errors, options, check_paths)
}

fn empty_bundle(sources: &[PathBuf]) -> BundleError {
    BundleError::Invalid {
        file: sources.first().cloned().unwrap_or_default(),
        pos: Pos {
            file: 0,
            line: 1,
            column: 1,
        },
        field: "(document)".into(),
        message:
            "empty bundle: the file holds no YAML document (Juju refuses it: \"bundle is empty\")"
                .into(),
    }
}
