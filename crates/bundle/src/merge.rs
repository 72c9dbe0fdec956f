//! Overlay merging with Juju's rules, on the YAML trees (so that presence, not value, decides):
//!
//! * an application set to null in an overlay is removed, with every relation that names it;
//! * an application present in both is merged key by key: maps (`options`, `bindings`,
//!   `annotations`, `storage`, ...) merge recursively, anything else (`to: []`, `num_units`,
//!   `constraints`) replaces; a null value leaves the base value as it was;
//! * `machines:` in an overlay replaces the base's machines as a whole (`machines: {}` removes them);
//! * `relations:` append;
//! * other top-level keys (`series`, `default-base`, `saas`, ...) replace, maps merge key by key;
//! * `saas:` entries merge like applications (null removes one with its relations);
//! * legacy `services:` is read as `applications:` in a bundle with `--juju 2.9`; Juju 3
//!   refuses it, and every Juju refuses it in an overlay (juju/charm `applyOverlay`).

use std::path::PathBuf;

use crate::convert::Errors;
use crate::yaml::{Node, NodeKind};
use crate::{BundleError, JujuVersion, LoadOptions, Warning, WarningKind};

/// A bundle or overlay document, split into the parts the merge rules treat differently.
#[derive(Debug, Clone, Default)]
pub struct Doc {
    /// Top-level keys other than applications, machines and relations: (key node, value).
    pub top: Vec<(Node, Node)>,
    /// Applications (key node, value) in document order.
    pub applications: Vec<(Node, Node)>,
    /// The `machines:` node, when present and not null.
    pub machines: Option<Node>,
    /// Relation entries.
    pub relations: Vec<Node>,
    /// `saas:` entries (key node, value) in document order.
    pub saas: Vec<(Node, Node)>,
}

fn invalid(sources: &[PathBuf], node: &Node, field: &str, message: String) -> BundleError {
    BundleError::Invalid {
        file: sources
            .get(node.pos.file as usize)
            .cloned()
            .unwrap_or_default(),
        pos: node.pos,
        field: field.to_string(),
        message,
    }
}

impl Doc {
    /// Splits a parsed document (`overlay`: not the first document of the deployment). The
    /// root must be a mapping (or empty). Problems go to `errors`; the parts that are fine
    /// are kept, so that later checks still run.
    pub(crate) fn from_node(
        sources: &[PathBuf],
        root: Node,
        overlay: bool,
        options: &LoadOptions,
        warnings: &mut Vec<Warning>,
        errors: &mut Errors,
    ) -> Doc {
        let mut doc = Doc::default();
        let entries = match root.kind {
            NodeKind::Null => return doc,
            NodeKind::Map(m) => m,
            _ => {
                errors.push(invalid(
                    sources,
                    &root,
                    "(document)",
                    format!(
                        "a bundle must be a mapping with an `applications` key, not {}",
                        root.type_name()
                    ),
                ));
                return doc;
            }
        };
        let mut seen_apps: Option<String> = None;
        for (k, v) in entries {
            let Some(key) = k.scalar_string() else {
                errors.push(invalid(
                    sources,
                    &k,
                    "(document)",
                    format!("top-level keys must be strings, not {}", k.type_name()),
                ));
                continue;
            };
            match key.as_str() {
                "applications" | "services" => {
                    if let Some(prev) = &seen_apps {
                        errors.push(invalid(
                            sources,
                            &k,
                            &key,
                            format!("`{prev}` is already given: a bundle has `applications` or the legacy `services`, not both"),
                        ));
                        continue;
                    }
                    seen_apps = Some(key.clone());
                    if key == "services" {
                        if overlay {
                            errors.push(invalid(
                                sources,
                                &k,
                                &key,
                                "an overlay uses the deprecated `services` key, which Juju refuses in overlays: rename it `applications`".into(),
                            ));
                            continue;
                        }
                        if options.juju >= JujuVersion::V3 {
                            errors.push(invalid(
                                sources,
                                &k,
                                &key,
                                "`services` is the legacy name of `applications`, which Juju 3 does not read (the bundle would have no applications): rename it, or check with --juju 2.9 for a Juju 2.9 controller".into(),
                            ));
                            continue;
                        }
                        warnings.push(Warning {
                            kind: WarningKind::Deprecated,
                            application: None,
                            file: sources
                                .get(k.pos.file as usize)
                                .cloned()
                                .unwrap_or_default(),
                            pos: k.pos,
                            message: "`services` is the legacy name of `applications` (Juju 2.9 reads it; Juju 3 does not)".into(),
                        });
                    }
                    match v.kind {
                        NodeKind::Null => {}
                        NodeKind::Map(m) => doc.applications = m,
                        _ => errors.push(invalid(
                            sources,
                            &v,
                            &key,
                            format!(
                                "must be a mapping of application names, not {}",
                                v.type_name()
                            ),
                        )),
                    }
                }
                "saas" => match v.kind {
                    NodeKind::Null => {}
                    NodeKind::Map(m) => doc.saas = m,
                    _ => errors.push(invalid(
                        sources,
                        &v,
                        "saas",
                        format!("must be a mapping of offer names, not {}", v.type_name()),
                    )),
                },
                "machines" => match v.kind {
                    NodeKind::Null => {}
                    NodeKind::Map(_) => doc.machines = Some(v),
                    _ => errors.push(invalid(
                        sources,
                        &v,
                        "machines",
                        format!("must be a mapping of machine ids, not {}", v.type_name()),
                    )),
                },
                "relations" => match v.kind {
                    NodeKind::Null => {}
                    NodeKind::Seq(items) => doc.relations = items,
                    _ => errors.push(invalid(
                        sources,
                        &v,
                        "relations",
                        format!("must be a list of endpoint pairs, not {}", v.type_name()),
                    )),
                },
                _ => doc.top.push((k, v)),
            }
        }
        doc
    }

    /// Applies an overlay on top of this document (see the module docs for the rules).
    pub fn apply_overlay(&mut self, overlay: Doc) {
        for (k, v) in overlay.applications {
            let name = k.scalar_string().unwrap_or_default();
            let existing = self
                .applications
                .iter()
                .position(|(bk, _)| bk.scalar_string().as_deref() == Some(name.as_str()));
            if v.is_null() {
                if let Some(i) = existing {
                    self.applications.remove(i);
                }
                self.relations
                    .retain(|r| !relation_names_application(r, &name));
                continue;
            }
            match existing {
                Some(i) => merge_node(&mut self.applications[i].1, v),
                None => self.applications.push((k, v)),
            }
        }
        for (k, v) in overlay.saas {
            let name = k.scalar_string().unwrap_or_default();
            let existing = self
                .saas
                .iter()
                .position(|(bk, _)| bk.scalar_string().as_deref() == Some(name.as_str()));
            if v.is_null() {
                if let Some(i) = existing {
                    self.saas.remove(i);
                }
                self.relations
                    .retain(|r| !relation_names_application(r, &name));
                continue;
            }
            match existing {
                Some(i) => merge_node(&mut self.saas[i].1, v),
                None => self.saas.push((k, v)),
            }
        }
        if let Some(m) = overlay.machines {
            self.machines = Some(m);
        }
        self.relations.extend(overlay.relations);
        for (k, v) in overlay.top {
            let key = k.scalar_string();
            match self
                .top
                .iter_mut()
                .find(|(bk, _)| bk.scalar_string() == key)
            {
                Some((_, bv)) => merge_node(bv, v),
                None => self.top.push((k, v)),
            }
        }
    }
}

/// Merges `over` into `base`: mappings key by key (recursively, null leaves the base value),
/// anything else replaces.
pub fn merge_node(base: &mut Node, over: Node) {
    if over.is_null() {
        return;
    }
    match (&mut base.kind, over.kind) {
        (NodeKind::Map(b), NodeKind::Map(o)) => {
            for (ok, ov) in o {
                let key = ok.scalar_string();
                match b.iter_mut().find(|(bk, _)| bk.scalar_string() == key) {
                    Some((_, bv)) => merge_node(bv, ov),
                    None => {
                        if !ov.is_null() {
                            b.push((ok, ov))
                        }
                    }
                }
            }
        }
        (_, kind) => {
            *base = Node {
                kind,
                pos: over.pos,
            }
        }
    }
}

/// Whether a relation entry (`[a:x, b:y]`) names the application.
fn relation_names_application(rel: &Node, app: &str) -> bool {
    let NodeKind::Seq(ends) = &rel.kind else {
        return false;
    };
    ends.iter().any(|e| {
        e.scalar_string()
            .map(|s| s.split(':').next() == Some(app))
            .unwrap_or(false)
    })
}
