//! The contract with `preflight-maas`: every shipped scenario's snapshot parses with
//! `preflight_maas::model_from_snapshot` into the provider model the topology describes.

use preflight_lab::{scenarios, snapshot::snapshot};
use preflight_model::provider::ProviderModel;

fn model(name: &str) -> (preflight_lab::Topology, ProviderModel) {
    let t = scenarios::load(name).expect("scenario");
    let m = preflight_maas::model_from_snapshot(&snapshot(&t))
        .unwrap_or_else(|e| panic!("{name}: snapshot does not parse: {e}"));
    (t, m)
}

#[test]
fn every_shipped_snapshot_parses_into_the_topology() {
    for (name, _) in scenarios::SHIPPED {
        let (t, m) = model(name);
        assert_eq!(m.machines.len(), t.maas_machines(), "{name}: machines");
        assert_eq!(m.spaces.len(), t.spaces.len(), "{name}: spaces");
        assert_eq!(m.subnets.len(), t.subnets.len(), "{name}: subnets");
        assert_eq!(m.vlans.len(), t.vlans.len(), "{name}: vlans");
        for s in &t.subnets {
            let ms = m.subnets.get(&s.id).expect("subnet by id");
            assert_eq!(ms.cidr, s.cidr, "{name}");
            let v = &t.vlans[s.vlan];
            let mv = m.vlans.get(&ms.vlan_id).expect("vlan");
            assert_eq!((mv.vid, mv.mtu), (v.vid, v.mtu), "{name} {}", s.cidr);
            let space = v.space.map(|i| t.spaces[i].name.clone());
            assert_eq!(
                m.space_of_subnet(s.id).map(|x| x.name.clone()),
                space,
                "{name} {}",
                s.cidr
            );
        }
        for h in t.hosts.iter().filter(|h| h.in_maas) {
            let mm = m.machine(&h.system_id).expect("machine by system_id");
            assert_eq!(mm.hostname, h.name);
            assert_eq!(mm.interfaces.len(), h.interfaces.len());
            for (i, mi) in h.interfaces.iter().zip(&mm.interfaces) {
                assert_eq!(mi.name, i.name);
                assert_eq!(
                    mi.mac.as_ref().map(ToString::to_string).as_deref(),
                    Some(i.mac.as_str())
                );
                assert_eq!(mi.effective_mtu, i.mtu);
                assert_eq!(mi.links.len(), 1);
                assert_eq!(mi.links[0].ip, i.address);
                assert_eq!(mi.links[0].subnet_id, Some(t.subnets[i.subnet].id));
            }
        }
    }
}

#[test]
fn machines_outside_maas_are_left_out() {
    let (t, m) = model("drift-machine-unknown");
    let stray = t.host("stray").expect("stray");
    assert!(!stray.in_maas);
    assert!(m.machine(&stray.system_id).is_none());
    assert!(m.machines.iter().all(|x| x.hostname != "stray"));
}
