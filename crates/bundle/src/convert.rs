//! From a merged YAML document to a typed [`Bundle`], with the checks Juju makes before it
//! deploys (placements and relations refer to things the bundle defines).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::merge::Doc;
use crate::yaml::{Node, NodeKind};
use crate::{
    Application, Bindings, Bundle, BundleError, BundleMachine, Constraints, JujuVersion,
    LoadOptions, Placement, Relation, Saas, Warning, WarningKind, MAX_ERRORS,
};

/// Problems found so far (at most [`MAX_ERRORS`] kept, the rest counted).
#[derive(Debug, Default)]
pub(crate) struct Errors {
    list: Vec<BundleError>,
    more: usize,
}

impl Errors {
    pub(crate) fn push(&mut self, e: BundleError) {
        if self.list.len() < MAX_ERRORS {
            self.list.push(e);
        } else {
            self.more += 1;
        }
    }
    fn into_error(self) -> Option<BundleError> {
        BundleError::from_list(self.list, self.more)
    }
}

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
    errors: Errors,
    juju: JujuVersion,
    /// The application being read (warnings name it).
    app: Option<String>,
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
    fn warn(&mut self, kind: WarningKind, n: &Node, message: impl Into<String>) {
        let file = self.file(n);
        self.warnings.push(Warning {
            kind,
            application: self.app.clone(),
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
    errors: Errors,
    options: &LoadOptions,
    check_paths: bool,
) -> Result<Bundle, BundleError> {
    let mut cx = Cx {
        sources,
        warnings,
        errors,
        juju: options.juju,
        app: None,
    };
    let mut b = Bundle::default();

    let (mut top_series, mut top_base) = (None, None);
    for (k, v) in &doc.top {
        let key = k.scalar_string().unwrap_or_default();
        match key.as_str() {
            "series" => top_series = Some(v),
            "default-base" => top_base = Some(v),
            k2 if TOP_KEYS.contains(&k2) => {}
            other => cx.warn(
                WarningKind::UnknownKey,
                k,
                format!("unknown top-level key `{other}`: not a Juju bundle field, ignored"),
            ),
        }
    }

    (b.series, b.default_base) =
        os_fields(&mut cx, "bundle", "", "default-base", top_series, top_base);

    // Machines, with how many placements refer to each (Juju refuses a machine nothing uses).
    let mut machine_keys: BTreeMap<String, &Node> = BTreeMap::new();
    if let Some(m) = &doc.machines {
        for (k, v) in m.as_map().unwrap_or_default() {
            match machine(&mut cx, k, v) {
                Ok(machine) => {
                    let id = machine.id.clone();
                    if b.machines.insert(id.clone(), machine).is_some() {
                        let e = cx.err(k, &format!("machines.{id}"), "machine defined twice");
                        cx.errors.push(e);
                    }
                    machine_keys.insert(id, k);
                }
                Err(e) => cx.errors.push(e),
            }
        }
    }

    for (k, v) in &doc.saas {
        let name = k.scalar_string().unwrap_or_default();
        let url = match &v.kind {
            NodeKind::Null => None,
            NodeKind::Map(_) => match v
                .get("url")
                .map(|u| cx.string(u, &format!("saas.{name}.url")))
            {
                Some(Ok(u)) => u,
                Some(Err(e)) => {
                    cx.errors.push(e);
                    None
                }
                None => None,
            },
            _ => {
                let e = cx.err(
                    v,
                    &format!("saas.{name}"),
                    format!("must be a mapping with `url:`, not {}", v.type_name()),
                );
                cx.errors.push(e);
                None
            }
        };
        b.saas.insert(
            name.clone(),
            Saas {
                name,
                url,
                pos: k.pos,
            },
        );
    }

    let mut app_nodes: BTreeMap<String, (&Node, &Node)> = BTreeMap::new();
    for (k, v) in &doc.applications {
        let name = match cx.string(k, "applications") {
            Ok(n) => n.unwrap_or_default(),
            Err(e) => {
                cx.errors.push(e);
                continue;
            }
        };
        if name.is_empty() {
            let e = cx.err(k, "applications", "empty application name");
            cx.errors.push(e);
            continue;
        }
        if b.saas.contains_key(&name) {
            let e = cx.err(
                k,
                &format!("applications.{name}"),
                format!("application {name:?} has the name of a `saas:` entry (Juju: \"SAAS {name:?} already exists with application {name:?} name\")"),
            );
            cx.errors.push(e);
        }
        cx.app = Some(name.clone());
        let read = application(&mut cx, &name, k, v, check_paths);
        cx.app = None;
        match read {
            Ok(app) => {
                if b.applications.insert(name.clone(), app).is_some() {
                    let e = cx.err(
                        k,
                        "applications",
                        format!("application {name:?} defined twice"),
                    );
                    cx.errors.push(e);
                }
                app_nodes.insert(name, (k, v));
            }
            Err(e) => cx.errors.push(e),
        }
    }
    // Placements refer to bundle machines and applications that exist.
    let mut machine_refs: BTreeMap<&str, usize> =
        b.machines.keys().map(|id| (id.as_str(), 0)).collect();
    for (name, app) in &b.applications {
        let node = app_nodes
            .get(name)
            .and_then(|(_, v)| v.get("to"))
            .or_else(|| app_nodes.get(name).map(|(k, _)| *k));
        let Some(node) = node else { continue };
        let field = format!("applications.{name}.to");
        if app.to.len() > app.num_units as usize && !app.to.is_empty() {
            let e = cx.err(
                node,
                &field,
                format!(
                    "too many units specified in unit placement ({} placements for {} units)",
                    app.to.len(),
                    app.num_units
                ),
            );
            cx.errors.push(e);
        }
        for p in &app.to {
            match p {
                Placement::Machine { machine, .. } => {
                    match machine_refs.get_mut(machine.as_str()) {
                        Some(n) => *n += 1,
                        None => {
                            let e = cx.err(
                            node,
                            &field,
                            format!("placement {p} refers to machine {machine}, which the bundle's `machines:` does not define"),
                        );
                            cx.errors.push(e);
                        }
                    }
                }
                Placement::Unit {
                    application, unit, ..
                } => match b.applications.get(application) {
                    None => {
                        let e = cx.err(
                            node,
                            &field,
                            format!("placement {p} refers to application {application:?}, which is not defined in this bundle"),
                        );
                        cx.errors.push(e);
                    }
                    Some(target) => {
                        if let Some(u) = unit {
                            if *u >= target.num_units {
                                let e = cx.err(
                                    node,
                                    &field,
                                    format!("placement {p} refers to a unit that does not exist ({application} has {} units)", target.num_units),
                                );
                                cx.errors.push(e);
                            }
                        }
                    }
                },
                Placement::New { .. } => {}
            }
        }
    }
    for (id, refs) in &machine_refs {
        if *refs == 0 {
            if let Some(k) = machine_keys.get(*id) {
                let e = cx.err(
                    k,
                    &format!("machines.{id}"),
                    format!("machine {id} is not referred to by a placement directive (Juju refuses a bundle machine that no `to:` uses)"),
                );
                cx.errors.push(e);
            }
        }
    }

    for r in &doc.relations {
        let rel = match relation(&cx, r) {
            Ok(rel) => rel,
            Err(e) => {
                cx.errors.push(e);
                continue;
            }
        };
        let mut ok = true;
        for (app, _) in [&rel.a, &rel.b] {
            if !b.applications.contains_key(app) && !b.saas.contains_key(app) {
                let e = cx.err(
                    r,
                    "relations",
                    format!(
                        "relation [{:?} {:?}] refers to application {app:?}, which neither `applications:` nor `saas:` defines",
                        end_string(&rel.a),
                        end_string(&rel.b)
                    ),
                );
                cx.errors.push(e);
                ok = false;
            }
        }
        if ok {
            b.relations.push(rel);
        }
    }

    if doc.applications.is_empty() {
        let file = cx.sources.first().cloned().unwrap_or_default();
        cx.errors.push(BundleError::Invalid {
            file,
            pos: crate::Pos {
                file: 0,
                line: 1,
                column: 1,
            },
            field: "applications".into(),
            message: "the bundle has no applications (Juju: \"at least one application must be specified\")".into(),
        });
    }

    if let Some(e) = std::mem::take(&mut cx.errors).into_error() {
        return Err(e);
    }
    b.sources = cx.sources;
    b.warnings = cx.warnings;
    Ok(b)
}

fn machine(cx: &mut Cx, k: &Node, v: &Node) -> Result<BundleMachine, BundleError> {
    let id = cx.string(k, "machines")?.unwrap_or_default();
    if id.is_empty() || !id.bytes().all(|c| c.is_ascii_digit()) {
        return Err(cx.err(
            k,
            "machines",
            format!("invalid machine id {id:?}: bundle machine ids are non-negative integers"),
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
            let (mut series, mut base) = (None, None);
            for (mk, mv) in entries {
                let mkey = mk.scalar_string().unwrap_or_default();
                match mkey.as_str() {
                    "constraints" => {
                        let (c, raw) = cx.constraints(mv, &format!("{field}.constraints"))?;
                        machine.constraints = c;
                        machine.constraints_raw = raw;
                    }
                    "series" => series = Some(mv),
                    "base" => base = Some(mv),
                    k2 if MACHINE_KEYS.contains(&k2) => {}
                    other => cx.warn(
                        WarningKind::UnknownKey,
                        mk,
                        format!("unknown key `{other}` in machine {id}: ignored"),
                    ),
                }
            }
            os_fields(cx, &format!("machine {id:?}"), &field, "base", series, base);
        }
        _ => {
            return Err(cx.err(
                v,
                &field,
                format!("must be a mapping or empty, not {}", v.type_name()),
            ))
        }
    }
    Ok(machine)
}

/// The `series` and `base` (`default-base` at the top) of one level of the bundle, checked
/// with the rules of `cx.juju` (see [`crate::series`]): problems are errors at the value; with
/// Juju 2.9, which has no base field, a base is an ignored key. Returns what Juju keeps.
fn os_fields(
    cx: &mut Cx,
    what: &str,
    prefix: &str,
    base_key: &str,
    series: Option<&Node>,
    base: Option<&Node>,
) -> (Option<String>, Option<String>) {
    let dotted = |k: &str| {
        if prefix.is_empty() {
            k.to_string()
        } else {
            format!("{prefix}.{k}")
        }
    };
    let mut read = |n: Option<&Node>, field: &str| match n.map(|n| cx.string(n, field)) {
        Some(Ok(v)) => v,
        Some(Err(e)) => {
            cx.errors.push(e);
            None
        }
        None => None,
    };
    let series_field = dotted("series");
    let base_field = dotted(base_key);
    let s = read(series, &series_field);
    let b = read(base, &base_field);
    if let (Some(n), Some(v)) = (series, &s) {
        if let Err(m) = crate::series::check_series(cx.juju, what, v) {
            let e = cx.err(n, &series_field, m);
            cx.errors.push(e);
        }
    }
    let (Some(n), Some(v)) = (base, b) else {
        return (s, None);
    };
    if cx.juju < JujuVersion::V3 {
        cx.warn(
            WarningKind::UnknownKey,
            n,
            format!(
                "`{base_key}: {v}` is not a Juju 2.9 bundle field (2.9 reads `series`): ignored"
            ),
        );
        return (s, None);
    }
    if let Err(m) = crate::series::check_base(what, base_key, &v, s.as_deref()) {
        let e = cx.err(n, &base_field, m);
        cx.errors.push(e);
    }
    (s, Some(v))
}

fn end_string((app, ep): &(String, Option<String>)) -> String {
    match ep {
        Some(e) => format!("{app}:{e}"),
        None => app.clone(),
    }
}

fn application(
    cx: &mut Cx,
    name: &str,
    k: &Node,
    v: &Node,
    check_paths: bool,
) -> Result<Application, BundleError> {
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
    let mut revision = None;
    let (mut series, mut base) = (None, None);
    for (ek, ev) in entries {
        let key = ek.scalar_string().unwrap_or_default();
        let f = format!("{field}.{key}");
        let r: Result<(), BundleError> = (|| {
            match key.as_str() {
                "charm" => {
                    app.charm = cx.string(ev, &f)?.unwrap_or_default();
                    charm_node = Some(ev);
                }
                "channel" => app.channel = cx.string(ev, &f)?,
                "revision" => revision = Some(ev),
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
                "series" => series = Some(ev),
                "base" => base = Some(ev),
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
                    WarningKind::UnknownKey,
                    ek,
                    format!("unknown key `{other}` in application {name}: not a Juju application field, ignored"),
                ),
            }
            Ok(())
        })();
        if let Err(e) = r {
            cx.errors.push(e);
        }
    }
    os_fields(
        cx,
        &format!("application {name:?}"),
        &field,
        "base",
        series,
        base,
    );
    let node = charm_node.unwrap_or(k);
    let cf = format!("{field}.charm");
    if app.charm.trim().is_empty() {
        let e = cx.err(
            node,
            &cf,
            "no charm given (an application an overlay adds needs its own `charm:`)",
        );
        cx.errors.push(e);
        return Ok(app);
    }
    let charm = app.charm.clone();
    if is_local_path(&charm) {
        if check_paths {
            let base = cx.file(node);
            let dir = base.parent().unwrap_or(Path::new(""));
            let path = if Path::new(&charm).is_absolute() {
                PathBuf::from(&charm)
            } else {
                dir.join(&charm)
            };
            if !path.exists() {
                let e = cx.err(
                    node,
                    &cf,
                    format!(
                        "charm path in application {name:?} does not exist: {}",
                        path.display()
                    ),
                );
                cx.errors.push(e);
            }
        }
    } else if charm.starts_with("cs:") {
        if cx.juju >= JujuVersion::V3 {
            let e = cx.err(
                node,
                &cf,
                format!("charm URL {charm:?} is a charm store (cs:) URL, which Juju 3 refuses (the charm store is retired): use the Charmhub name with a channel, or check with --juju 2.9 for a Juju 2.9 controller"),
            );
            cx.errors.push(e);
        } else {
            cx.warn(
                WarningKind::Deprecated,
                node,
                format!("charm URL {charm:?} uses the retired charm store (cs:); Juju 3 refuses it: use the Charmhub name with a channel"),
            );
        }
    } else if let Some(rev) = charmhub_revision(&charm) {
        let e = cx.err(
            node,
            &cf,
            format!("cannot specify revision in {charm:?} (revision {rev} in a Charmhub URL), please use revision: give `charm: {}` and `revision: {rev}` with a channel", charm.trim_end_matches(|c: char| c.is_ascii_digit()).trim_end_matches('-')),
        );
        cx.errors.push(e);
    }
    if let Some(rn) = revision {
        match &rn.kind {
            NodeKind::Null => {}
            NodeKind::Int(r) if *r < 0 => {
                let e = cx.err(
                    rn,
                    &format!("{field}.revision"),
                    format!("the revision for application {name:?} must be zero or greater"),
                );
                cx.errors.push(e);
            }
            NodeKind::Int(_) => {
                if !is_local_path(&charm) && !charm.starts_with("cs:") && app.channel.is_none() {
                    let e = cx.err(
                        rn,
                        &format!("{field}.revision"),
                        format!("application {name:?} with a revision requires a channel for future upgrades, please use channel"),
                    );
                    cx.errors.push(e);
                }
            }
            _ => {
                let e = cx.err(
                    rn,
                    &format!("{field}.revision"),
                    format!("must be an integer, not {}", rn.type_name()),
                );
                cx.errors.push(e);
            }
        }
    }
    Ok(app)
}

/// Whether a charm reference is a local directory (`./x`, `../x`, `/abs/x`), as Juju decides.
fn is_local_path(charm: &str) -> bool {
    charm.starts_with('.') || Path::new(charm).is_absolute()
}

/// The revision inside a Charmhub charm URL (`ch:name-300`, `name-300`,
/// `ch:amd64/jammy/name-3`), which Juju refuses. Charm names cannot end in a dash and digits
/// (every dash-separated part holds a letter), so a trailing `-N` is a revision.
pub(crate) fn charmhub_revision(charm: &str) -> Option<u64> {
    let rest = match charm.split_once(':') {
        Some(("ch", r)) => r,
        Some(_) => return None,
        None => charm,
    };
    let last = rest.rsplit('/').next().unwrap_or(rest);
    let (name, rev) = last.rsplit_once('-')?;
    if name.is_empty() || rev.is_empty() || !rev.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    rev.parse().ok()
}

fn placements(cx: &mut Cx, n: &Node, field: &str) -> Result<Vec<Placement>, BundleError> {
    let items: Vec<&Node> = match &n.kind {
        NodeKind::Null => return Ok(Vec::new()),
        NodeKind::Seq(items) => items.iter().collect(),
        // Juju's decoder cannot put a scalar or a mapping into the `to` list: it drops the
        // field, and every unit goes to a new machine.
        _ => {
            let shown = n
                .scalar_string()
                .map(|s| format!(" {s:?}"))
                .unwrap_or_default();
            cx.warn(
                WarningKind::IgnoredField,
                n,
                format!("{field} is {}{shown}, not a list: Juju ignores the field and puts every unit on a new machine (write `to: [{}]` for a placement)", n.type_name(), n.scalar_string().unwrap_or_else(|| "...".into())),
            );
            return Ok(Vec::new());
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
