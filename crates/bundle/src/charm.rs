//! Charm metadata: the endpoints a binding may name.
//!
//! A charm's bindable endpoints are its relation names (`provides`, `requires`, `peers`) plus
//! its `extra-bindings`. Metadata is read from `metadata.yaml`, or from `charmcraft.yaml` when
//! that holds the metadata (the unified format). Reactive charms get more endpoints from their
//! layers at build time (`certificates` from `layer:tls-client`, `nrpe-external-master` from
//! `layer:nagios`), so their source `metadata.yaml` can lack endpoints the built charm has:
//! preflight treats the metadata it is given as the truth, so give it the built charm's
//! metadata (unpack the `.charm`) when the bundle binds layer-added endpoints.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use crate::yaml::{self, Node, NodeKind};
use crate::{Application, Bundle, BundleError, Warning, WarningKind};

/// The metadata of one charm, as far as bindings are concerned.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CharmMeta {
    /// Charm name (`name:`).
    pub name: String,
    /// Relation endpoints by name, with their interface.
    pub relations: BTreeMap<String, String>,
    /// `extra-bindings` names.
    pub extra_bindings: BTreeSet<String>,
    /// Whether the charm is a subordinate.
    pub subordinate: bool,
    /// The file the metadata came from.
    pub source: PathBuf,
    /// Whether the charm is built from layers (`layer.yaml` beside its metadata, or the
    /// `reactive` plugin in `charmcraft.yaml`): its source metadata may lack layer-added endpoints.
    pub reactive: bool,
    /// The name of the charm's directory, when read from one (bundles may name a local charm
    /// by its directory, and metadata's `name:` may differ from the Charmhub name).
    pub dir_name: Option<String>,
    /// A duplicate key the metadata has (Juju reads metadata non-strictly: the last value
    /// wins), with where it is.
    pub duplicate: Option<Warning>,
}

impl CharmMeta {
    /// Every endpoint a binding may name: provides ∪ requires ∪ peers ∪ extra-bindings.
    pub fn endpoints(&self) -> BTreeSet<String> {
        self.relations
            .keys()
            .cloned()
            .chain(self.extra_bindings.iter().cloned())
            .collect()
    }

    /// Whether a binding may name this endpoint.
    pub fn has_endpoint(&self, name: &str) -> bool {
        self.relations.contains_key(name) || self.extra_bindings.contains(name)
    }

    /// Parses metadata from YAML text; `file` names it in errors.
    /// Duplicate keys keep their last value (as Juju's non-strict YAML reading does) and are
    /// recorded in [`CharmMeta::duplicate`].
    pub fn parse(file: &Path, text: &str) -> Result<CharmMeta, BundleError> {
        let (node, dup) = yaml::parse_lenient(file, text)?;
        let mut meta = Self::from_node(file, &node)?;
        meta.duplicate = dup.map(|d| Warning {
            kind: WarningKind::DuplicateKey,
            application: None,
            file: file.to_path_buf(),
            pos: d.pos,
            message: format!(
                "charm metadata has a duplicate key ({}); Juju keeps the last value, and so does preflight",
                d.message
            ),
        });
        Ok(meta)
    }

    /// Reads the metadata of a charm directory (`metadata.yaml`, else `charmcraft.yaml`).
    pub fn read_dir(dir: &Path) -> Result<CharmMeta, BundleError> {
        let meta = dir.join("metadata.yaml");
        let craft = dir.join("charmcraft.yaml");
        let file = if meta.is_file() {
            meta
        } else if craft.is_file() {
            craft.clone()
        } else {
            return Err(BundleError::Io {
                file: dir.to_path_buf(),
                source: std::io::Error::new(
                    std::io::ErrorKind::NotFound,
                    "no metadata.yaml or charmcraft.yaml in this charm directory",
                ),
            });
        };
        let text = yaml::read_text(&file)?;
        let mut meta = Self::parse(&file, &text)?;
        meta.dir_name = dir
            .canonicalize()
            .unwrap_or_else(|_| dir.to_path_buf())
            .file_name()
            .map(|n| n.to_string_lossy().into_owned());
        meta.reactive = dir.join("layer.yaml").is_file()
            || std::fs::read_to_string(&craft)
                .map(|t| t.contains("plugin: reactive"))
                .unwrap_or(false);
        Ok(meta)
    }

    fn from_node(file: &Path, node: &Node) -> Result<CharmMeta, BundleError> {
        let err = |n: &Node, field: &str, message: String| BundleError::Invalid {
            file: file.to_path_buf(),
            pos: n.pos,
            field: field.to_string(),
            message,
        };
        if node.as_map().is_none() {
            return Err(err(
                node,
                "(document)",
                format!("charm metadata must be a mapping, not {}", node.type_name()),
            ));
        }
        let name = match node.get("name") {
            Some(n) => match &n.kind {
                NodeKind::Str(s) if !s.is_empty() => s.clone(),
                _ => {
                    return Err(err(
                        n,
                        "name",
                        format!("must be the charm name, not {}", n.type_name()),
                    ))
                }
            },
            None => {
                return Err(err(
                    node,
                    "name",
                    "no `name:` (a charmcraft.yaml without metadata is build configuration only; give the charm's metadata.yaml)".into(),
                ))
            }
        };
        let mut meta = CharmMeta {
            name,
            source: file.to_path_buf(),
            ..CharmMeta::default()
        };
        for section in ["provides", "requires", "peers"] {
            let Some(sec) = node.get(section) else {
                continue;
            };
            let entries = match &sec.kind {
                NodeKind::Null => continue,
                NodeKind::Map(m) => m,
                _ => {
                    return Err(err(
                        sec,
                        section,
                        format!(
                            "must be a mapping of relation names, not {}",
                            sec.type_name()
                        ),
                    ))
                }
            };
            for (k, v) in entries {
                let Some(rel) = k.scalar_string() else {
                    return Err(err(k, section, "relation names must be strings".into()));
                };
                let interface = match &v.kind {
                    // Shorthand: `server: mysql`.
                    NodeKind::Str(s) => s.clone(),
                    NodeKind::Map(_) => match v.get("interface").and_then(Node::scalar_string) {
                        Some(i) => i,
                        None => {
                            return Err(err(
                                v,
                                &format!("{section}.{rel}"),
                                "no `interface:`".into(),
                            ))
                        }
                    },
                    _ => {
                        return Err(err(
                            v,
                            &format!("{section}.{rel}"),
                            format!(
                                "must be an interface name or a mapping with `interface:`, not {}",
                                v.type_name()
                            ),
                        ))
                    }
                };
                meta.relations.insert(rel, interface);
            }
        }
        if let Some(eb) = node.get("extra-bindings") {
            match &eb.kind {
                NodeKind::Null => {}
                NodeKind::Map(m) => {
                    for (k, _) in m {
                        if let Some(n) = k.scalar_string() {
                            meta.extra_bindings.insert(n);
                        }
                    }
                }
                NodeKind::Seq(items) => {
                    for i in items {
                        if let Some(n) = i.scalar_string() {
                            meta.extra_bindings.insert(n);
                        }
                    }
                }
                _ => {
                    return Err(err(
                        eb,
                        "extra-bindings",
                        format!("must be a mapping of names, not {}", eb.type_name()),
                    ))
                }
            }
        }
        if let Some(s) = node.get("subordinate") {
            meta.subordinate = matches!(s.kind, NodeKind::Bool(true));
        }
        Ok(meta)
    }
}

/// Charm metadata by charm name.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CharmSet {
    /// Charms by name.
    pub charms: BTreeMap<String, CharmMeta>,
}

impl CharmSet {
    /// Loads `--charm-dir` directories: each is a charm directory (holding `metadata.yaml` or
    /// `charmcraft.yaml`) or a directory of charm directories (one level down).
    pub fn load_dirs(dirs: &[PathBuf]) -> Result<CharmSet, BundleError> {
        let mut set = CharmSet::default();
        for dir in dirs {
            if dir.join("metadata.yaml").is_file() || dir.join("charmcraft.yaml").is_file() {
                set.insert(CharmMeta::read_dir(dir)?);
                continue;
            }
            let rd = std::fs::read_dir(dir).map_err(|source| BundleError::Io {
                file: dir.clone(),
                source,
            })?;
            let mut subdirs: Vec<PathBuf> = rd
                .filter_map(Result::ok)
                .map(|e| e.path())
                .filter(|p| {
                    p.is_dir()
                        && (p.join("metadata.yaml").is_file()
                            || p.join("charmcraft.yaml").is_file())
                })
                .collect();
            subdirs.sort();
            if subdirs.is_empty() {
                return Err(BundleError::Io {
                    file: dir.clone(),
                    source: std::io::Error::new(
                        std::io::ErrorKind::NotFound,
                        "no metadata.yaml or charmcraft.yaml here or in its subdirectories",
                    ),
                });
            }
            for sub in subdirs {
                set.insert(CharmMeta::read_dir(&sub)?);
            }
        }
        Ok(set)
    }

    /// Adds a charm (a later one with the same name replaces an earlier one).
    pub fn insert(&mut self, meta: CharmMeta) {
        self.charms.insert(meta.name.clone(), meta);
    }

    /// The metadata of the charm with this name.
    pub fn get(&self, name: &str) -> Option<&CharmMeta> {
        self.charms.get(name)
    }

    /// The metadata an application uses: the charm whose `name:` is the charm URL's name,
    /// else the one whose directory has that name (a local `./charms/x` or a Charmhub name
    /// whose metadata says otherwise).
    pub fn for_application(&self, app: &Application) -> Option<&CharmMeta> {
        let url_name = app.charm_name();
        self.charms.get(&url_name).or_else(|| {
            self.charms
                .values()
                .find(|m| m.dir_name.as_deref() == Some(url_name.as_str()))
        })
    }

    /// Warnings about the metadata: duplicate keys, and charms no application of `bundle`
    /// uses (a `--charm-dir` that matched nothing checks nothing).
    pub fn warnings(&self, bundle: &Bundle) -> Vec<Warning> {
        let used: BTreeSet<&str> = bundle
            .applications
            .values()
            .filter_map(|a| self.for_application(a))
            .map(|m| m.name.as_str())
            .collect();
        let mut out: Vec<Warning> = self
            .charms
            .values()
            .filter_map(|m| m.duplicate.clone())
            .collect();
        for m in self.charms.values() {
            if used.contains(m.name.as_str()) {
                continue;
            }
            out.push(Warning {
                kind: WarningKind::UnusedCharm,
                application: None,
                file: m.source.clone(),
                pos: crate::Pos::default(),
                message: format!(
                    "charm {:?}{} matches no application of the bundle (by charm URL name or directory name), so its endpoints check nothing",
                    m.name,
                    m.dir_name
                        .as_ref()
                        .filter(|d| **d != m.name)
                        .map(|d| format!(" (directory {d})"))
                        .unwrap_or_default()
                ),
            });
        }
        out
    }
}

/// The charm name a charm URL refers to: `ch:keystone` → `keystone`,
/// `cs:~user/focal/foo-12` → `foo`, `./charms/bar` → `bar`, `local:focal/baz-3` → `baz`.
pub fn charm_name_of_url(url: &str) -> String {
    let (scheme, rest) = match url.split_once(':') {
        Some((s, r)) if matches!(s, "ch" | "cs" | "local") => (Some(s), r),
        _ => (None, url),
    };
    let last = rest
        .trim_end_matches('/')
        .rsplit('/')
        .next()
        .unwrap_or(rest);
    if matches!(scheme, Some("cs") | Some("local")) {
        if let Some((name, rev)) = last.rsplit_once('-') {
            if !rev.is_empty() && rev.bytes().all(|b| b.is_ascii_digit()) {
                return name.to_string();
            }
        }
    }
    last.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn url_names() {
        assert_eq!(charm_name_of_url("ch:keystone"), "keystone");
        assert_eq!(charm_name_of_url("keystone"), "keystone");
        assert_eq!(charm_name_of_url("cs:~containers/calico-826"), "calico");
        assert_eq!(charm_name_of_url("cs:focal/ceph-osd-12"), "ceph-osd");
        assert_eq!(charm_name_of_url("cs:ceph-osd"), "ceph-osd");
        assert_eq!(
            charm_name_of_url("ch:amd64/focal/mysql-router-12"),
            "mysql-router-12"
        );
        assert_eq!(charm_name_of_url("./charms/my-charm/"), "my-charm");
        assert_eq!(charm_name_of_url("local:focal/baz-3"), "baz");
    }

    #[test]
    fn both_relation_forms_and_extra_bindings() {
        let m = CharmMeta::parse(
            Path::new("m.yaml"),
            "name: x\nprovides:\n  server: mysql\n  web:\n    interface: http\nrequires:\n  db: {interface: pgsql}\npeers:\n  cluster: {interface: c}\nextra-bindings:\n  public:\n  admin:\n",
        )
        .unwrap();
        assert_eq!(m.relations.get("server").map(String::as_str), Some("mysql"));
        assert_eq!(m.relations.get("web").map(String::as_str), Some("http"));
        let eps: Vec<_> = m.endpoints().into_iter().collect();
        assert_eq!(eps, ["admin", "cluster", "db", "public", "server", "web"]);
        assert!(!m.subordinate);
    }

    #[test]
    fn bad_metadata_names_field_and_position() {
        let e = CharmMeta::parse(Path::new("m.yaml"), "name: x\nprovides:\n  web: [1]\n")
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("m.yaml:3:"), "{e}");
        assert!(e.contains("provides.web"), "{e}");
        let e = CharmMeta::parse(Path::new("m.yaml"), "provides: {}\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("no `name:`"), "{e}");
        let e = CharmMeta::parse(Path::new("m.yaml"), "- a\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("must be a mapping"), "{e}");
    }
}
