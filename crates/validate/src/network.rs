//! Network hygiene rules: `subnet.no-space`, `subnet.overlap` and `space.empty`.

use std::collections::BTreeMap;

use preflight_bundle::ALPHA_SPACE;
use preflight_model::report::{Code, Severity, Subject};

use crate::cx::Cx;

/// `subnet.no-space`: every subnet machines link to should be in a space.
pub(crate) fn subnet_no_space(cx: &mut Cx<'_>) {
    let provider = cx.provider;
    cx.checked(Code::SubnetNoSpace, Subject::default());
    let mut linked: BTreeMap<i64, Vec<&str>> = BTreeMap::new();
    for m in &provider.machines {
        for iface in &m.interfaces {
            for link in &iface.links {
                if let Some(sid) = link.subnet_id {
                    // Machines are visited one at a time: a repeat can only be the last one.
                    let e = linked.entry(sid).or_default();
                    if e.last() != Some(&m.hostname.as_str()) {
                        e.push(m.hostname.as_str());
                    }
                }
            }
        }
    }
    for (sid, machines) in &linked {
        let Some(subnet) = provider.subnets.get(sid) else {
            continue;
        };
        if subnet.space_id.is_some() {
            continue;
        }
        cx.finding(
            Code::SubnetNoSpace,
            Severity::Warning,
            Subject {
                subnet: Some(subnet.cidr.to_string()),
                ..Subject::default()
            },
            format!(
                "subnet {} ({}) is in no space (undefined), yet {} machine(s) link to it ({}{}): no binding can reach it except the default space {ALPHA_SPACE}",
                subnet.cidr,
                subnet.name,
                machines.len(),
                machines.iter().take(5).copied().collect::<Vec<_>>().join(", "),
                if machines.len() > 5 { ", ..." } else { "" }
            ),
            Some(format!(
                "put the VLAN of {} into a space in MAAS (or leave it if nothing should bind there)",
                subnet.cidr
            )),
        );
    }
}

/// `subnet.overlap`: no two subnets' CIDRs should overlap (sorted by family and network
/// address, then swept).
pub(crate) fn subnet_overlap(cx: &mut Cx<'_>) {
    let provider = cx.provider;
    cx.checked(Code::SubnetOverlap, Subject::default());
    let mut subnets: Vec<_> = provider.subnets.values().collect();
    subnets.sort_by_key(|s| {
        (
            s.cidr.addr().is_ipv6(),
            s.cidr.network(),
            s.cidr.prefix_len(),
        )
    });
    let fabric_of = |vlan: i64| {
        provider
            .vlans
            .get(&vlan)
            .map(|v| v.fabric_id)
            .and_then(|f| {
                provider
                    .fabrics
                    .get(&f)
                    .map(|f| f.name.clone())
                    .or(Some(f.to_string()))
            })
            .unwrap_or_else(|| "?".into())
    };
    let mut findings = Vec::new();
    for (i, a) in subnets.iter().enumerate() {
        for b in &subnets[i + 1..] {
            if b.cidr.addr().is_ipv6() != a.cidr.addr().is_ipv6() {
                break;
            }
            // Sorted by network address: once b starts past a's end, no later one overlaps a.
            if !a.cidr.contains(&b.cidr.network()) {
                break;
            }
            let (fa, fb) = (fabric_of(a.vlan_id), fabric_of(b.vlan_id));
            findings.push((
                Subject {
                    subnet: Some(format!("{} (id {})", a.cidr, a.id)),
                    ..Subject::default()
                },
                format!(
                    "subnet {} (id {}, fabric {fa}) overlaps subnet {} (id {}, fabric {fb}): anything that matches addresses to subnets by CIDR is ambiguous there",
                    a.cidr, a.id, b.cidr, b.id
                ),
            ));
        }
    }
    for (subject, message) in findings {
        cx.finding(
            Code::SubnetOverlap,
            Severity::Warning,
            subject,
            message,
            Some("renumber one of them, or make sure nothing deployed depends on telling them apart by address".into()),
        );
    }
}

/// `space.empty`: every bound space (`bound_spaces`: space → applications) should have
/// subnets and machines linked into it.
pub(crate) fn space_empty(cx: &mut Cx<'_>, bound_spaces: &BTreeMap<String, Vec<String>>) {
    let provider = cx.provider;
    for (sp, apps) in bound_spaces {
        let subject = Subject {
            space: Some(sp.clone()),
            ..Subject::default()
        };
        cx.checked(Code::SpaceEmpty, subject.clone());
        let Some(space) = provider.space_by_name(sp) else {
            continue;
        };
        let n_subnets = provider.subnets_in_space(space.id).count();
        let n_machines = cx
            .cands
            .iter()
            .filter(|c| c.spaces.contains(sp.as_str()))
            .count();
        let what = if n_subnets == 0 {
            "has no subnets"
        } else if n_machines == 0 {
            "has subnets, but no machine links into it"
        } else {
            continue;
        };
        let mut apps = apps.clone();
        apps.dedup();
        cx.finding(
            Code::SpaceEmpty,
            Severity::Warning,
            subject,
            format!("space {sp:?} {what}; bound by {}", apps.join(", ")),
            Some(if n_subnets == 0 {
                format!("add a subnet (VLAN) to space {sp} in MAAS")
            } else {
                format!("link machines' interfaces to a subnet of space {sp} in MAAS")
            }),
        );
    }
}
