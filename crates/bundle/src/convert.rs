//! From a merged YAML document to a typed [`Bundle`], with the checks Juju makes before it
//! deploys (placements and relations refer to things the bundle defines).

use std::collections::BTreeMap;
use std::path::PathBuf;

use crate::merge::Doc;
use crate::yaml::{Node, NodeKind};
use crate::{
    Application, Bindings, Bundle, BundleError, BundleMachine, Constraints, Placement, Relation,
    Warning,
};

/// Top-level keys of Juju's `BundleData` (plus `variables`, the anchor holder real bundles use).
const TOP_KEYS: &[&str] = &[
    "series",
    "default-base",
    "description",
    "tags",
    "saas",
    "bundle",
    "type",
    "variables",
];

/// Keys of Juju's `ApplicationSpec`.
const APP_KEYS: &[&str] = &[
    "charm",
    "channel",
    "revision",
    "series",
    "base",
    "resources",
    "num_units",
    "scale",
    "to",
    "placement",
    "expose",
    "exposed-endpoints",
    "options",
    "annotations",
    "constraints",
    "storage",
    "devices",
    "plan",
    "requires-trust",
    "trust",
    "bindings",
    "offers",
];

/// Most units one application may ask for (far beyond any MAAS; bounds memory and time).
pub(crate) const MAX_UNITS: u32 = 100_000;

/// Keys of Juju's `MachineSpec`.
const MACHINE_KEYS: &[&str] = &["constraints", "annotations", "series", "base"];

struct Cx {
    sources: Vec<PathBuf>,
    warnings: Vec<Warning>,
}

impl Cx {
    fn file(&self, n: &Node) -> PathBuf {
        self.sources
            .get(n.pos.file as usize)
            .cloned()
            .unwrap_or_default()
    }
    fn err(&self, n: &Node, field: &str, message: impl Into<String>) -> BundleError {
        BundleError::Invalid {
            file: self.file(n),
            pos: n.pos,
            field: field.to_string(),
            message: message.into(),
        }
    }
    fn warn(&mut self, n: &Node, message: impl Into<String>) {
        let file = self.file(n);
        self.warnings.push(Warning {
            file,
            pos: n.pos,
            message: message.into(),
        });
    }
    fn string(&self, n: &Node, field: &str) -> Result<Option<String>, BundleError> {
        match &n.kind {
            NodeKind::Null => Ok(None),
            NodeKind::Str(s) => Ok(Some(s.clone())),
            NodeKind::Int(_) | NodeKind::Float(_) | NodeKind::Bool(_) => Ok(n.scalar_string()),
            _ => Err(self.err(n, field, format!("must be a string, not {}", n.type_name()))),
        }
    }
    fn uint(&self, n: &Node, field: &str) -> Result<Option<u32>, BundleError> {
        match &n.kind {
            NodeKind::Null => Ok(None),
            NodeKind::Int(i) => u32::try_from(*i).map(Some).map_err(|_| {
                self.err(n, field, format!("must be a non-negative integer, not {i}"))
            }),
            _ => Err(self.err(
                n,
                field,
                format!("must be a non-negative integer, not {}", n.type_name()),
            )),
        }
    }
    fn boolean(&self, n: &Node, field: &str) -> Result<bool, BundleError> {
        match &n.kind {
            NodeKind::Null => Ok(false),
            NodeKind::Bool(b) => Ok(*b),
            _ => Err(self.err(
                n,
                field,
                format!("must be true or false, not {}", n.type_name()),
            )),
        }
    }
    fn constraints(
        &self,
        n: &Node,
        field: &str,
    ) -> Result<(Constraints, Option<String>), BundleError> {
        match self.string(n, field)? {
            None => Ok((Constraints::default(), None)),
            Some(raw) => {
                let c = Constraints::parse(&raw)
                    .map_err(|e| self.err(n, field, format!("{e} (in {raw:?})")))?;
                Ok((c, Some(raw)))
            }
        }
    }
}

pub(crate) fn to_bundle(
    sources: Vec<PathBuf>,
    doc: Doc,
    warnings: Vec<Warning>,
) -> Result<Bundle, BundleError> {
    let mut cx = Cx { sources, warnings };
    let mut b = Bundle::default();

    for (k, v) in &doc.top {
        let key = k.scalar_string().unwrap_or_default();
        match key.as_str() {
            "series" => b.series = cx.string(v, "series")?,
            "default-base" => b.default_base = cx.string(v, "default-base")?,
            k2 if TOP_KEYS.contains(&k2) => {}
            other => cx.warn(
                k,
                format!("unknown top-level key `{other}`: not a Juju bundle field, ignored"),
            ),
        }
    }

    if let Some(m) = &doc.machines {
        for (k, v) in m.as_map().unwrap_or_default() {
            let id = cx.string(k, "machines")?.unwrap_or_default();
            if id.is_empty() || !id.bytes().all(|c| c.is_ascii_digit()) {
                return Err(cx.err(
                    k,
                    "machines",
                    format!(
                        "invalid machine id {id:?}: bundle machine ids are non-negative integers"
                    ),
                ));
            }
            let field = format!("machines.{id}");
            let mut machine = BundleMachine {
                id: id.clone(),
                ..BundleMachine::default()
            };
            match &v.kind {
                NodeKind::Null => {}
                NodeKind::Map(entries) => {
                    for (mk, mv) in entries {
                        let mkey = mk.scalar_string().unwrap_or_default();
                        match mkey.as_str() {
                            "constraints" => {
                                let (c, raw) =
                                    cx.constraints(mv, &format!("{field}.constraints"))?;
                                machine.constraints = c;
                                machine.constraints_raw = raw;
                            }
                            k2 if MACHINE_KEYS.contains(&k2) => {}
                            other => cx.warn(
                                mk,
                                format!("unknown key `{other}` in machine {id}: ignored"),
                            ),
                        }
                    }
                }
                _ => {
                    return Err(cx.err(
                        v,
                        &field,
                        format!("must be a mapping or empty, not {}", v.type_name()),
                    ))
                }
            }
            if b.machines.insert(id.clone(), machine).is_some() {
                return Err(cx.err(k, &field, "machine defined twice"));
            }
        }
    }

    let mut app_nodes: BTreeMap<String, (&Node, &Node)> = BTreeMap::new();
    for (k, v) in &doc.applications {
        let name = cx.string(k, "applications")?.unwrap_or_default();
        if name.is_empty() {
            return Err(cx.err(k, "applications", "empty application name"));
        }
        let app = application(&mut cx, &name, k, v)?;
        if b.applications.insert(name.clone(), app).is_some() {
            return Err(cx.err(
                k,
                "applications",
                format!("application {name:?} defined twice"),
            ));
        }
        app_nodes.insert(name, (k, v));
    }

    // Placements refer to bundle machines and applications that exist.
    for (name, app) in &b.applications {
        let node = app_nodes
            .get(name)
            .and_then(|(_, v)| v.get("to"))
            .or_else(|| app_nodes.get(name).map(|(k, _)| *k));
        let Some(node) = node else { continue };
        let field = format!("applications.{name}.to");
        if app.to.len() > app.num_units as usize && !app.to.is_empty() {
            return Err(cx.err(
                node,
                &field,
                format!(
                    "too many units specified in unit placement ({} placements for {} units)",
                    app.to.len(),
                    app.num_units
                ),
            ));
        }
        for p in &app.to {
            match p {
                Placement::Machine { machine, .. } if !b.machines.contains_key(machine) => {
                    return Err(cx.err(
                        node,
                        &field,
                        format!("placement {p} refers to machine {machine}, which the bundle's `machines:` does not define"),
                    ));
                }
                Placement::Unit {
                    application, unit, ..
                } => match b.applications.get(application) {
                    None => {
                        return Err(cx.err(
                            node,
                            &field,
                            format!("placement {p} refers to application {application:?}, which is not defined in this bundle"),
                        ))
                    }
                    Some(target) => {
                        if let Some(u) = unit {
                            if *u >= target.num_units {
                                return Err(cx.err(
                                    node,
                                    &field,
                                    format!("placement {p} refers to a unit that does not exist ({application} has {} units)", target.num_units),
                                ));
                            }
                        }
                    }
                },
                _ => {}
            }
        }
    }

    for r in &doc.relations {
        let rel = relation(&cx, r)?;
        for (app, _) in [&rel.a, &rel.b] {
            if !b.applications.contains_key(app) {
                return Err(cx.err(
                    r,
                    "relations",
                    format!(
                        "relation [{:?} {:?}] refers to application {app:?} not defined in this bundle",
                        end_string(&rel.a),
                        end_string(&rel.b)
                    ),
                ));
            }
        }
        b.relations.push(rel);
    }

    b.sources = cx.sources;
    b.warnings = cx.warnings;
    Ok(b)
}

fn end_string((app, ep): &(String, Option<String>)) -> String {
    match ep {
        Some(e) => format!("{app}:{e}"),
        None => app.clone(),
    }
}

fn application(cx: &mut Cx, name: &str, k: &Node, v: &Node) -> Result<Application, BundleError> {
    let field = format!("applications.{name}");
    let entries = match &v.kind {
        NodeKind::Map(m) => m,
        NodeKind::Null => {
            return Err(cx.err(
                v,
                &field,
                "empty application (an overlay may set an application to null only to remove one the bundle defines)",
            ))
        }
        _ => {
            return Err(cx.err(
                v,
                &field,
                format!("must be a mapping, not {}", v.type_name()),
            ))
        }
    };
    let mut app = Application {
        name: name.to_string(),
        pos: k.pos,
        ..Application::default()
    };
    let mut charm_node = None;
    for (ek, ev) in entries {
        let key = ek.scalar_string().unwrap_or_default();
        let f = format!("{field}.{key}");
        match key.as_str() {
            "charm" => {
                app.charm = cx.string(ev, &f)?.unwrap_or_default();
                charm_node = Some(ev);
            }
            "channel" => app.channel = cx.string(ev, &f)?,
            "num_units" | "scale" => {
                if let Some(n) = cx.uint(ev, &f)? {
                    if n > MAX_UNITS {
                        return Err(cx.err(
                            ev,
                            &f,
                            format!("{n} units is over preflight's limit of {MAX_UNITS} per application"),
                        ));
                    }
                    app.num_units = n;
                }
            }
            "to" => app.to = placements(cx, ev, &f)?,
            "expose" => app.expose = cx.boolean(ev, &f)?,
            "constraints" => {
                let (c, raw) = cx.constraints(ev, &f)?;
                app.constraints = c;
                app.constraints_raw = raw;
            }
            "bindings" => app.bindings = bindings(cx, ev, &f)?,
            "options" | "annotations" | "storage" | "devices" | "resources" | "offers"
            | "exposed-endpoints" => {
                if !matches!(ev.kind, NodeKind::Map(_) | NodeKind::Null) {
                    return Err(cx.err(
                        ev,
                        &f,
                        format!("must be a mapping, not {}", ev.type_name()),
                    ));
                }
            }
            k2 if APP_KEYS.contains(&k2) => {}
            other => cx.warn(
                ek,
                format!("unknown key `{other}` in application {name}: not a Juju application field, ignored"),
            ),
        }
    }
    if app.charm.trim().is_empty() {
        return Err(cx.err(
            charm_node.unwrap_or(k),
            &format!("{field}.charm"),
            "no charm given (an application an overlay adds needs its own `charm:`)",
        ));
    }
    if app.charm.starts_with("cs:") {
        let node = charm_node.unwrap_or(k);
        cx.warn(
            node,
            format!(
                "charm URL {:?} uses the retired charm store (cs:); Juju 3 rejects it: use the Charmhub name with a channel",
                app.charm
            ),
        );
    }
    Ok(app)
}

fn placements(cx: &Cx, n: &Node, field: &str) -> Result<Vec<Placement>, BundleError> {
    let items: Vec<&Node> = match &n.kind {
        NodeKind::Null => return Ok(Vec::new()),
        NodeKind::Seq(items) => items.iter().collect(),
        NodeKind::Str(_) | NodeKind::Int(_) => vec![n],
        _ => {
            return Err(cx.err(
                n,
                field,
                format!("must be a list of placements, not {}", n.type_name()),
            ))
        }
    };
    items
        .into_iter()
        .map(|item| {
            let s = match &item.kind {
                NodeKind::Str(s) => s.clone(),
                NodeKind::Int(i) => i.to_string(),
                _ => {
                    return Err(cx.err(
                        item,
                        field,
                        format!("a placement must be a string, not {}", item.type_name()),
                    ))
                }
            };
            parse_placement(&s).map_err(|m| cx.err(item, field, m))
        })
        .collect()
}

/// Parses `[<container>:](new|<machine>|<app>[/<unit>])`.
pub(crate) fn parse_placement(s: &str) -> Result<Placement, String> {
    let s = s.trim();
    let (container, target) = match s.split_once(':') {
        Some((c, t)) => {
            if !matches!(c, "lxd" | "kvm" | "lxc") {
                return Err(format!(
                    "invalid placement {s:?}: unknown container type {c:?} (lxd or kvm)"
                ));
            }
            (Some(c.to_string()), t)
        }
        None => (None, s),
    };
    if target.is_empty() {
        return Err(format!("invalid placement {s:?}: nothing to place on"));
    }
    if target == "new" {
        return Ok(Placement::New { container });
    }
    if target.bytes().all(|b| b.is_ascii_digit()) {
        return Ok(Placement::Machine {
            container,
            machine: target.to_string(),
        });
    }
    let (app, unit) = match target.split_once('/') {
        Some((a, u)) => {
            let n = u
                .parse::<u32>()
                .map_err(|_| format!("invalid placement {s:?}: unit number {u:?}"))?;
            (a, Some(n))
        }
        None => (target, None),
    };
    let valid_app = app.chars().next().is_some_and(|c| c.is_ascii_lowercase())
        && app
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
    if !valid_app {
        return Err(format!(
            "invalid placement {s:?}: expected new, a machine number or an application[/unit]"
        ));
    }
    Ok(Placement::Unit {
        container,
        application: app.to_string(),
        unit,
    })
}

fn bindings(cx: &Cx, n: &Node, field: &str) -> Result<Bindings, BundleError> {
    let mut b = Bindings::default();
    let entries = match &n.kind {
        NodeKind::Null => return Ok(b),
        NodeKind::Map(m) => m,
        _ => {
            return Err(cx.err(
                n,
                field,
                format!(
                    "must be a mapping of endpoint to space, not {}",
                    n.type_name()
                ),
            ))
        }
    };
    for (k, v) in entries {
        let ep = cx.string(k, field)?.unwrap_or_default();
        let f = format!("{field}.{ep:?}");
        let space = match &v.kind {
            NodeKind::Str(s) if !s.is_empty() => s.clone(),
            NodeKind::Null => continue,
            NodeKind::Str(_) => return Err(cx.err(v, &f, "empty space name")),
            // A numeric space name is still a name (go-yaml decodes it into the string field).
            NodeKind::Int(_) => v.scalar_string().unwrap_or_default(),
            _ => {
                return Err(cx.err(
                    v,
                    &f,
                    format!("must be a space name, not {}", v.type_name()),
                ))
            }
        };
        if ep.is_empty() {
            b.default = Some(space);
        } else {
            b.endpoints.insert(ep, space);
        }
    }
    Ok(b)
}

fn relation(cx: &Cx, n: &Node) -> Result<Relation, BundleError> {
    let ends = match &n.kind {
        NodeKind::Seq(items) if items.len() == 2 => items,
        _ => {
            return Err(cx.err(
                n,
                "relations",
                format!(
                    "a relation must be a list of two endpoints (\"app:endpoint\"), not {}",
                    match &n.kind {
                        NodeKind::Seq(items) => format!("a list of {}", items.len()),
                        _ => n.type_name().to_string(),
                    }
                ),
            ))
        }
    };
    let mut parsed = Vec::with_capacity(2);
    for e in ends {
        let s = match &e.kind {
            NodeKind::Str(s) if !s.is_empty() => s.clone(),
            _ => {
                return Err(cx.err(
                    e,
                    "relations",
                    format!(
                        "a relation endpoint must be \"app:endpoint\", not {}",
                        e.type_name()
                    ),
                ))
            }
        };
        let end = match s.split_once(':') {
            Some((a, ep)) => (a.to_string(), Some(ep.to_string())),
            None => (s, None),
        };
        parsed.push(end);
    }
    let b = parsed.pop().unwrap_or_default();
    let a = parsed.pop().unwrap_or_default();
    Ok(Relation { a, b })
}
