//! The relation space map: which spaces each relation of the bundle joins.
//!
//! Every relation end is resolved to the space its endpoint is bound to: the explicit binding,
//! else the application's `""` default, else Juju's model default `alpha`. An end that names
//! no endpoint (`- [haproxy, mediawiki]`) is resolved through charm metadata when both charms
//! are known and exactly one pair of their endpoints shares an interface; otherwise it takes
//! the application's default binding. A relation to an application the bundle does not define
//! is a cross-model relation (a `saas:` offer): its far end lives in another model, so only the
//! local end's space is known.
//!
//! Rules (each one function): `relation.cross-space` (info, one per space pair a relation
//! needs, naming the relations) and `relation.unroutable` (error, when MAAS shows the pair
//! cannot route: one side's subnets have no gateway at all and the two spaces share no VLAN).

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write;

use preflight_bundle::{Bundle, CharmSet, ALPHA_SPACE};
use preflight_model::provider::{ProviderModel, Subnet};
use preflight_model::report::{Checked, Code, Finding, Severity, Subject};

/// One end of a relation, resolved to a space.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RelationEnd {
    /// Application name (or the offer's name, for a cross-model relation).
    pub application: String,
    /// Endpoint as written, or as inferred from charm metadata.
    pub endpoint: Option<String>,
    /// Space the endpoint is bound to; `None` for an offer of another model.
    pub space: Option<String>,
    /// How the space was found.
    pub via: Via,
}

/// How a relation end's space was resolved.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Via {
    /// An explicit `bindings:` entry for the endpoint.
    Binding,
    /// The application's `""` default binding.
    Default,
    /// Juju's model default space (`alpha`): no binding at all.
    ModelDefault,
    /// The end is an offer of another model (`saas:`): its space is not in this model.
    Offer,
}

/// One relation of the bundle with both ends resolved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResolvedRelation {
    /// `app:endpoint ↔ app:endpoint`, as reports name it.
    pub label: String,
    /// First end.
    pub a: RelationEnd,
    /// Second end.
    pub b: RelationEnd,
}

/// A pair of different spaces (`a` < `b`) that relations need to route between.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SpaceNeed {
    /// First space (alphabetically).
    pub a: String,
    /// Second space.
    pub b: String,
    /// Labels of the relations that need it.
    pub relations: Vec<String>,
    /// Applications with an end in `a`.
    pub applications_a: BTreeSet<String>,
    /// Applications with an end in `b`.
    pub applications_b: BTreeSet<String>,
}

/// The relation space map of a bundle.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RelationMap {
    /// Every relation, resolved, in bundle order.
    pub relations: Vec<ResolvedRelation>,
    /// Space pairs relations need, ordered by (a, b).
    pub needs: Vec<SpaceNeed>,
    /// Per application: the spaces its bindings use other than `alpha` (a machine hosting it
    /// must be in all of them).
    pub application_spaces: BTreeMap<String, BTreeSet<String>>,
}

impl RelationMap {
    /// The need for this unordered pair of spaces, when a relation joins them.
    pub fn need(&self, x: &str, y: &str) -> Option<&SpaceNeed> {
        let (a, b) = if x <= y { (x, y) } else { (y, x) };
        self.needs.iter().find(|n| n.a == a && n.b == b)
    }
}

/// Orders a pair of space names.
pub fn ordered<'a>(x: &'a str, y: &'a str) -> (&'a str, &'a str) {
    if x <= y {
        (x, y)
    } else {
        (y, x)
    }
}

/// Resolves every relation of the bundle to the spaces its ends are bound to.
pub fn relation_map(bundle: &Bundle, charms: Option<&CharmSet>) -> RelationMap {
    let mut map = RelationMap::default();
    for (name, app) in &bundle.applications {
        let spaces: BTreeSet<String> = app
            .bindings
            .spaces()
            .into_iter()
            .filter(|s| s != ALPHA_SPACE)
            .collect();
        map.application_spaces.insert(name.clone(), spaces);
    }
    let mut needs: BTreeMap<(String, String), SpaceNeed> = BTreeMap::new();
    for rel in &bundle.relations {
        let (ea, eb) = infer_endpoints(bundle, charms, &rel.a, &rel.b);
        let a = resolve_end(bundle, &rel.a.0, ea);
        let b = resolve_end(bundle, &rel.b.0, eb);
        let label = format!("{} ↔ {}", end_label(&a), end_label(&b));
        if let (Some(sa), Some(sb)) = (&a.space, &b.space) {
            if sa != sb {
                let (x, y) = ordered(sa, sb);
                let need = needs
                    .entry((x.to_string(), y.to_string()))
                    .or_insert_with(|| SpaceNeed {
                        a: x.to_string(),
                        b: y.to_string(),
                        ..SpaceNeed::default()
                    });
                if !need.relations.contains(&label) {
                    need.relations.push(label.clone());
                }
                for end in [&a, &b] {
                    let side = if end.space.as_deref() == Some(x) {
                        &mut need.applications_a
                    } else {
                        &mut need.applications_b
                    };
                    side.insert(end.application.clone());
                }
            }
        }
        map.relations.push(ResolvedRelation { label, a, b });
    }
    map.needs = needs.into_values().collect();
    map
}

fn end_label(e: &RelationEnd) -> String {
    match &e.endpoint {
        Some(ep) => format!("{}:{ep}", e.application),
        None => e.application.clone(),
    }
}

/// The space of one end.
fn resolve_end(bundle: &Bundle, app: &str, endpoint: Option<String>) -> RelationEnd {
    let Some(a) = bundle.applications.get(app) else {
        return RelationEnd {
            application: app.to_string(),
            endpoint,
            space: None,
            via: Via::Offer,
        };
    };
    let b = &a.bindings;
    let (space, via) = match endpoint.as_deref().and_then(|ep| b.endpoints.get(ep)) {
        Some(sp) => (sp.clone(), Via::Binding),
        None => match &b.default {
            Some(d) => (d.clone(), Via::Default),
            None => (ALPHA_SPACE.to_string(), Via::ModelDefault),
        },
    };
    RelationEnd {
        application: app.to_string(),
        endpoint,
        space: Some(space),
        via,
    }
}

/// The endpoints of a relation's ends: as written, or, for an end that names none, the one
/// endpoint of its charm whose interface matches the other end (when metadata says so).
fn infer_endpoints(
    bundle: &Bundle,
    charms: Option<&CharmSet>,
    a: &(String, Option<String>),
    b: &(String, Option<String>),
) -> (Option<String>, Option<String>) {
    if a.1.is_some() && b.1.is_some() {
        return (a.1.clone(), b.1.clone());
    }
    let meta = |app: &str| {
        let charm = bundle.applications.get(app)?.charm_name();
        charms?.get(&charm)
    };
    let (Some(ma), Some(mb)) = (meta(&a.0), meta(&b.0)) else {
        return (a.1.clone(), b.1.clone());
    };
    let mut matches = Vec::new();
    for (ea, ia) in &ma.relations {
        if a.1.as_ref().is_some_and(|x| x != ea) {
            continue;
        }
        for (eb, ib) in &mb.relations {
            if b.1.as_ref().is_some_and(|x| x != eb) {
                continue;
            }
            if ia == ib {
                matches.push((ea.clone(), eb.clone()));
            }
        }
    }
    match matches.as_slice() {
        [(ea, eb)] => (Some(ea.clone()), Some(eb.clone())),
        _ => (a.1.clone(), b.1.clone()),
    }
}

/// Most names one message lists.
const MAX_NAMED: usize = 8;

/// The first [`MAX_NAMED`] items joined, with "and N more" after them.
pub fn some(items: &[String], sep: &str) -> String {
    let mut s = items
        .iter()
        .take(MAX_NAMED)
        .cloned()
        .collect::<Vec<_>>()
        .join(sep);
    if items.len() > MAX_NAMED {
        let _ = write!(s, " and {} more", items.len() - MAX_NAMED);
    }
    s
}

/// `relation.cross-space` (info): one finding per space pair relations need, and one per
/// relation to an offer of another model.
pub fn cross_space_findings(map: &RelationMap) -> (Vec<Finding>, Vec<Checked>) {
    let mut findings = Vec::new();
    let checked = vec![Checked {
        check: Code::RelationCrossSpace,
        subject: Subject::default(),
    }];
    for n in &map.needs {
        findings.push(Finding {
            code: Code::RelationCrossSpace,
            severity: Severity::Info,
            subject: Subject {
                space: Some(format!("{}:{}", n.a, n.b)),
                ..Subject::default()
            },
            message: format!(
                "spaces {} and {} must route to each other for {} relation(s): {}",
                n.a,
                n.b,
                n.relations.len(),
                some(&n.relations, "; ")
            ),
            hint: Some(format!(
                "`preflight check --bundle` probes {}↔{} from the machines of {}",
                n.a,
                n.b,
                some(
                    &n.applications_a
                        .iter()
                        .chain(&n.applications_b)
                        .cloned()
                        .collect::<Vec<_>>(),
                    ", "
                )
            )),
        });
    }
    for r in &map.relations {
        let (local, offer) = match (&r.a.via, &r.b.via) {
            (Via::Offer, Via::Offer) => continue,
            (_, Via::Offer) => (&r.a, &r.b),
            (Via::Offer, _) => (&r.b, &r.a),
            _ => continue,
        };
        let space = local.space.clone().unwrap_or_default();
        findings.push(Finding {
            code: Code::RelationCrossSpace,
            severity: Severity::Info,
            subject: Subject {
                application: Some(local.application.clone()),
                endpoint: local.endpoint.clone(),
                space: Some(space.clone()),
                ..Subject::default()
            },
            message: format!(
                "relation {} joins offer {} of another model: traffic leaves space {space} for wherever that model binds the offer (not probed)",
                r.label, offer.application
            ),
            hint: Some(format!(
                "make sure space {space} routes to the offering model's space"
            )),
        });
    }
    (findings, checked)
}

/// `relation.unroutable` (error): for each needed pair of MAAS spaces, MAAS shows no way
/// between them: one side's subnets have no gateway at all (its machines have no route off
/// their subnets) and no subnet of one space shares a VLAN with a subnet of the other.
pub fn unroutable_findings(
    map: &RelationMap,
    provider: &ProviderModel,
) -> (Vec<Finding>, Vec<Checked>) {
    let mut findings = Vec::new();
    let mut checked = Vec::new();
    for n in &map.needs {
        let (Some(sa), Some(sb)) = (provider.space_by_name(&n.a), provider.space_by_name(&n.b))
        else {
            continue; // alpha or an unknown space: binding.unknown-space says so
        };
        let subject = Subject {
            space: Some(format!("{}:{}", n.a, n.b)),
            ..Subject::default()
        };
        checked.push(Checked {
            check: Code::RelationUnroutable,
            subject: subject.clone(),
        });
        let na: Vec<&Subnet> = provider.subnets_in_space(sa.id).collect();
        let nb: Vec<&Subnet> = provider.subnets_in_space(sb.id).collect();
        if na.is_empty() || nb.is_empty() {
            continue; // space.empty says so
        }
        let shared_vlan = na.iter().any(|x| nb.iter().any(|y| x.vlan_id == y.vlan_id));
        if shared_vlan {
            continue;
        }
        let no_gw = |subnets: &[&Subnet]| subnets.iter().all(|s| s.gateway.is_none());
        let cidrs = |subnets: &[&Subnet]| {
            subnets
                .iter()
                .map(|s| s.cidr.to_string())
                .collect::<Vec<_>>()
                .join(", ")
        };
        let sides: Vec<String> = [(&n.a, &na), (&n.b, &nb)]
            .into_iter()
            .filter(|(_, subnets)| no_gw(subnets))
            .map(|(name, subnets)| format!("space {name} ({})", cidrs(subnets)))
            .collect();
        if sides.is_empty() {
            continue;
        }
        findings.push(Finding {
            code: Code::RelationUnroutable,
            severity: Severity::Error,
            subject,
            message: format!(
                "{} and {} cannot route to each other as MAAS describes them: no subnet of {} has a gateway, and the two spaces share no VLAN; yet {} need the pair",
                n.a,
                n.b,
                sides.join(" or "),
                some(&n.relations, "; ")
            ),
            hint: Some(format!(
                "set a gateway on the subnets of {} in MAAS (and route between the spaces), or bind both ends of those relations to one space",
                sides.join(" and ")
            )),
        });
    }
    (findings, checked)
}

#[cfg(test)]
mod tests {
    use super::*;
    use preflight_bundle::{load_str, CharmMeta, Relation};
    use preflight_model::provider::{Space, Vlan};

    const BUNDLE: &str = r#"
applications:
  haproxy:
    charm: haproxy
    num_units: 1
    bindings:
      "": dmz
      website: public
  mediawiki:
    charm: mediawiki
    num_units: 1
    bindings:
      "": cms
  mysql:
    charm: mysql
    num_units: 1
    bindings:
      db: db
  telegraf:
    charm: telegraf
    bindings:
      "": cms
relations:
  - [haproxy:reverseproxy, mediawiki:website]
  - [mediawiki:db, mysql:db]
  - [mediawiki:db, mysql:db]
  - [mysql:cluster, mediawiki:juju-info]
  - [telegraf:juju-info, mediawiki:juju-info]
  - [haproxy:juju-info, telegraf:juju-info]
"#;

    fn bundle() -> Bundle {
        load_str(&[("bundle.yaml", BUNDLE)]).expect("bundle")
    }

    /// Spaces by name with one VLAN and subnet each: (name, cidr, gateway?).
    fn provider(spaces: &[(&str, &str, Option<&str>)]) -> ProviderModel {
        let mut p = ProviderModel::default();
        for (i, (name, cidr, gw)) in spaces.iter().enumerate() {
            let id = i as i64 + 1;
            p.spaces.insert(
                id,
                Space {
                    id,
                    name: name.to_string(),
                    description: None,
                },
            );
            p.vlans.insert(
                id,
                Vlan {
                    id,
                    fabric_id: 0,
                    vid: id as u16,
                    name: None,
                    mtu: 1500,
                    space_id: Some(id),
                },
            );
            p.subnets.insert(
                id,
                Subnet {
                    id,
                    name: cidr.to_string(),
                    cidr: cidr.parse().unwrap(),
                    vlan_id: id,
                    space_id: Some(id),
                    gateway: gw.map(|g| g.parse().unwrap()),
                    managed: true,
                    dns_servers: Vec::new(),
                },
            );
        }
        p
    }

    #[test]
    fn ends_resolve_to_binding_default_or_model_default() {
        let m = relation_map(&bundle(), None);
        let r = &m.relations[0];
        assert_eq!(r.label, "haproxy:reverseproxy ↔ mediawiki:website");
        assert_eq!((r.a.space.as_deref(), r.a.via), (Some("dmz"), Via::Default));
        assert_eq!((r.b.space.as_deref(), r.b.via), (Some("cms"), Via::Default));
        // mysql binds db explicitly and nothing else: cluster goes to alpha.
        let r = &m.relations[1];
        assert_eq!((r.b.space.as_deref(), r.b.via), (Some("db"), Via::Binding));
        let r = &m.relations[3];
        assert_eq!(
            (r.a.space.as_deref(), r.a.via),
            (Some(ALPHA_SPACE), Via::ModelDefault)
        );
        assert_eq!(
            m.application_spaces["haproxy"],
            ["dmz", "public"].map(String::from).into()
        );
        assert!(m.application_spaces["mysql"].contains("db"));
        assert!(!m.application_spaces["mysql"].contains(ALPHA_SPACE));
    }

    #[test]
    fn needs_are_unordered_pairs_naming_each_relation_once() {
        let m = relation_map(&bundle(), None);
        let pairs: Vec<(&str, &str, usize)> = m
            .needs
            .iter()
            .map(|n| (n.a.as_str(), n.b.as_str(), n.relations.len()))
            .collect();
        // cms:db once although listed twice; the subordinate telegraf (cms) joins dmz via
        // haproxy's juju-info; telegraf ↔ mediawiki is within cms and needs nothing.
        assert_eq!(
            pairs,
            [("alpha", "cms", 1), ("cms", "db", 1), ("cms", "dmz", 2)]
        );
        let n = m.need("dmz", "cms").expect("either order");
        assert_eq!(
            n.relations,
            [
                "haproxy:reverseproxy ↔ mediawiki:website",
                "haproxy:juju-info ↔ telegraf:juju-info"
            ]
        );
        assert_eq!(
            n.applications_a,
            ["mediawiki", "telegraf"].map(String::from).into()
        );
        assert_eq!(n.applications_b, ["haproxy".to_string()].into());
        let (f, c) = cross_space_findings(&m);
        assert_eq!(f.len(), 3);
        assert!(f.iter().all(|f| f.severity == Severity::Info));
        assert_eq!(f[2].subject.space.as_deref(), Some("cms:dmz"));
        assert!(f[2].message.contains("2 relation(s)"), "{}", f[2].message);
        assert_eq!(c.len(), 1);
    }

    #[test]
    fn an_offer_of_another_model_is_reported_with_the_local_space_only() {
        let mut b = bundle();
        b.relations.push(Relation {
            a: ("mediawiki".into(), Some("db".into())),
            b: ("remote-db".into(), None),
        });
        let m = relation_map(&b, None);
        let r = m.relations.last().unwrap();
        assert_eq!(r.b.via, Via::Offer);
        assert_eq!(r.b.space, None);
        assert_eq!(m.needs.len(), 3, "an offer adds no local space pair");
        let (f, _) = cross_space_findings(&m);
        let offer = f
            .iter()
            .find(|f| f.subject.application.as_deref() == Some("mediawiki"))
            .expect("offer finding");
        assert_eq!(offer.subject.space.as_deref(), Some("cms"));
        assert!(
            offer.message.contains("offer remote-db"),
            "{}",
            offer.message
        );
    }

    #[test]
    fn unnamed_endpoints_are_inferred_from_charm_metadata_when_unambiguous() {
        let text = r#"
applications:
  a: {charm: ca, num_units: 1, bindings: {"": s1, web: s2}}
  b: {charm: cb, num_units: 1, bindings: {"": s3}}
relations:
  - [a, b]
"#;
        let b = load_str(&[("b.yaml", text)]).expect("bundle");
        // Without metadata: the default bindings.
        let m = relation_map(&b, None);
        assert_eq!(m.needs[0].a, "s1");
        let mut charms = CharmSet::default();
        charms.insert(CharmMeta {
            name: "ca".into(),
            relations: [
                ("web".to_string(), "http".to_string()),
                ("db".into(), "mysql".into()),
            ]
            .into(),
            ..CharmMeta::default()
        });
        charms.insert(CharmMeta {
            name: "cb".into(),
            relations: [("website".to_string(), "http".to_string())].into(),
            ..CharmMeta::default()
        });
        let m = relation_map(&b, Some(&charms));
        assert_eq!(m.relations[0].label, "a:web ↔ b:website");
        assert_eq!((m.needs[0].a.as_str(), m.needs[0].b.as_str()), ("s2", "s3"));
    }

    #[test]
    fn unroutable_when_one_side_has_no_gateway_and_no_shared_vlan() {
        let m = relation_map(&bundle(), None);
        let routed = provider(&[
            ("dmz", "10.1.0.0/24", Some("10.1.0.1")),
            ("cms", "10.2.0.0/24", Some("10.2.0.1")),
            ("db", "10.3.0.0/24", Some("10.3.0.1")),
        ]);
        let (f, c) = unroutable_findings(&m, &routed);
        assert!(f.is_empty(), "{f:?}");
        assert_eq!(
            c.len(),
            2,
            "alpha is no MAAS space: cms:db and cms:dmz only"
        );
        let isolated_db = provider(&[
            ("dmz", "10.1.0.0/24", Some("10.1.0.1")),
            ("cms", "10.2.0.0/24", Some("10.2.0.1")),
            ("db", "10.3.0.0/24", None),
        ]);
        let (f, _) = unroutable_findings(&m, &isolated_db);
        assert_eq!(f.len(), 1, "{f:?}");
        assert_eq!(f[0].code, Code::RelationUnroutable);
        assert_eq!(f[0].severity, Severity::Error);
        assert_eq!(f[0].subject.space.as_deref(), Some("cms:db"));
        assert!(
            f[0].message.contains("space db (10.3.0.0/24)"),
            "{}",
            f[0].message
        );
        assert!(
            f[0].message.contains("mediawiki:db ↔ mysql:db"),
            "{}",
            f[0].message
        );
        // The same spaces sharing a VLAN (MAAS 2.x: subnets carry the space) route on-link.
        let mut shared = isolated_db.clone();
        shared.subnets.get_mut(&3).unwrap().vlan_id = 2;
        assert!(unroutable_findings(&m, &shared).0.is_empty());
    }
}
