//! The snapshot format and its parser into the typed [`ProviderModel`].
//!
//! A snapshot is one JSON object whose keys name MAAS endpoints and whose values are MAAS's
//! responses verbatim: `version`, `spaces`, `fabrics`, `vlans` (keyed by fabric id as a
//! string), `subnets`, `machines` (with `interface_set`), `zones`, `tags`, `resourcepools`,
//! `ipranges` (optional).
//! `spaces`, `fabrics`, `subnets` and `machines` are required; the rest may be absent.
//!
//! Parsing goes through private serde types that keep only the fields preflight reads, so
//! unknown fields cost nothing and a wrong type is reported with its JSON path
//! (`machines[3].interface_set[1].vlan.id: invalid type: string "x", expected i64`).
//! The live path and the file path share [`model_from_raw`]: a live MAAS is first assembled
//! into the same JSON object.

use std::collections::{BTreeMap, HashMap};
use std::net::IpAddr;
use std::path::Path;

use ipnet::IpNet;
use preflight_model::provider::{
    Fabric, Interface, InterfaceKind, InterfaceLink, Machine, ProviderModel, Space, Subnet, Vlan,
    UNDEFINED_SPACE_ID,
};
use serde::Deserialize;
use serde_json::Value;

use crate::MaasError;

/// Name MAAS gives the pseudo-space that holds VLANs and subnets in no space.
pub const UNDEFINED_SPACE_NAME: &str = "undefined";

/// MTU MAAS assumes when nothing says otherwise.
const DEFAULT_MTU: u32 = 1500;

/// One MiB in bytes.
const MIB: u64 = 1024 * 1024;

#[derive(Deserialize)]
struct RawSnapshot {
    #[serde(default)]
    version: Option<RawVersion>,
    spaces: Vec<RawSpace>,
    fabrics: Vec<RawFabric>,
    #[serde(default)]
    vlans: Option<BTreeMap<String, Vec<RawVlan>>>,
    subnets: Vec<RawSubnet>,
    machines: Vec<RawMachine>,
    #[serde(default)]
    zones: Option<Vec<RawNamed>>,
    #[serde(default)]
    tags: Option<Vec<RawNamed>>,
    #[serde(default)]
    resourcepools: Option<Vec<RawNamed>>,
    /// Absent in snapshots from before it was read, and on a MAAS that does not list it.
    #[serde(default)]
    ipranges: Option<Vec<RawIpRange>>,
}

#[derive(Deserialize)]
struct RawIpRange {
    id: i64,
    #[serde(rename = "type")]
    kind: String,
    start_ip: IpAddr,
    end_ip: IpAddr,
    #[serde(default)]
    subnet: Option<RawRef>,
    #[serde(default)]
    comment: Option<String>,
}

/// A reference MAAS gives either as the object (with `id`) or as the bare id.
#[derive(Deserialize)]
#[serde(untagged)]
enum RawRef {
    Id(i64),
    Object { id: i64 },
}

#[derive(Deserialize)]
struct RawVersion {
    #[serde(default)]
    version: Option<String>,
}

#[derive(Deserialize)]
struct RawNamed {
    name: String,
}

#[derive(Deserialize)]
struct RawSpace {
    id: i64,
    name: String,
    #[serde(default)]
    description: Option<String>,
    #[serde(default)]
    vlans: Option<Vec<RawVlan>>,
}

#[derive(Deserialize)]
struct RawFabric {
    id: i64,
    name: String,
    #[serde(default)]
    vlans: Option<Vec<RawVlan>>,
}

#[derive(Deserialize, Clone)]
struct RawVlan {
    id: i64,
    vid: u16,
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    mtu: Option<u32>,
    #[serde(default)]
    fabric_id: Option<i64>,
    #[serde(default)]
    fabric: Option<String>,
    #[serde(default)]
    space: Option<String>,
}

#[derive(Deserialize)]
struct RawSubnet {
    id: i64,
    #[serde(default)]
    name: Option<String>,
    cidr: String,
    vlan: RawVlan,
    #[serde(default)]
    space: Option<String>,
    #[serde(default)]
    gateway_ip: Option<String>,
    #[serde(default)]
    managed: Option<bool>,
    #[serde(default)]
    dns_servers: Option<Vec<String>>,
}

#[derive(Deserialize)]
struct RawDisk {
    #[serde(default)]
    size: Option<u64>,
}

#[derive(Deserialize)]
struct RawMachine {
    system_id: String,
    hostname: String,
    #[serde(default)]
    fqdn: Option<String>,
    #[serde(default)]
    status_name: Option<String>,
    #[serde(default)]
    status: Option<i64>,
    #[serde(default)]
    architecture: Option<String>,
    #[serde(default)]
    cpu_count: Option<u32>,
    #[serde(default)]
    cpu_speed: Option<u64>,
    #[serde(default)]
    memory: Option<u64>,
    #[serde(default)]
    boot_disk: Option<RawDisk>,
    #[serde(default)]
    blockdevice_set: Option<Vec<RawDisk>>,
    #[serde(default)]
    zone: Option<RawNamed>,
    #[serde(default)]
    pool: Option<RawNamed>,
    #[serde(default)]
    tag_names: Option<Vec<String>>,
    #[serde(default)]
    interface_set: Option<Vec<RawInterface>>,
    #[serde(default)]
    ip_addresses: Option<Vec<String>>,
}

#[derive(Deserialize)]
struct RawInterface {
    id: i64,
    name: String,
    #[serde(rename = "type")]
    kind: String,
    #[serde(default)]
    mac_address: Option<String>,
    #[serde(default)]
    enabled: Option<bool>,
    #[serde(default)]
    vlan: Option<RawVlan>,
    #[serde(default)]
    effective_mtu: Option<u32>,
    #[serde(default)]
    parents: Option<Vec<String>>,
    #[serde(default)]
    children: Option<Vec<String>>,
    /// `{}` / an object in 3.x, `""` or a free string in 2.x.
    #[serde(default)]
    params: Option<Value>,
    #[serde(default)]
    links: Option<Vec<RawLink>>,
}

#[derive(Deserialize)]
struct RawLink {
    id: i64,
    mode: String,
    #[serde(default)]
    subnet: Option<RawLinkSubnet>,
    #[serde(default)]
    ip_address: Option<String>,
}

#[derive(Deserialize)]
struct RawLinkSubnet {
    id: i64,
}

/// Builds the provider model from a snapshot held as a JSON value (a parsed snapshot file, or
/// the responses of a live MAAS assembled by the client).
pub fn model_from_snapshot(snapshot: &Value) -> Result<ProviderModel, MaasError> {
    model_from_snapshot_in(snapshot, "snapshot")
}

/// Like [`model_from_snapshot`], with `origin` (a file name or a MAAS URL) named in errors.
pub fn model_from_snapshot_in(snapshot: &Value, origin: &str) -> Result<ProviderModel, MaasError> {
    if !snapshot.is_object() {
        return Err(not_an_object(origin, kind_of(snapshot)));
    }
    let raw: RawSnapshot = serde_path_to_error::deserialize(snapshot).map_err(|e| {
        let path = e.path().to_string();
        MaasError::shape(origin, path, e.into_inner().to_string())
    })?;
    model_from_raw(raw, origin)
}

/// Builds the provider model straight from the bytes of a snapshot file, without building a
/// JSON tree first (the fast path for large snapshots). `origin` names the file in errors.
pub fn model_from_slice(bytes: &[u8], origin: &str) -> Result<ProviderModel, MaasError> {
    match bytes.iter().find(|b| !b.is_ascii_whitespace()) {
        Some(b'{') | None => {}
        Some(b'[') => return Err(not_an_object(origin, "an array")),
        Some(_) => {
            // Let the JSON parser say what is wrong (or that it is a scalar).
            let v: Value = serde_json::from_slice(bytes).map_err(|e| MaasError::Json {
                origin: origin.to_string(),
                message: e.to_string(),
            })?;
            return Err(not_an_object(origin, kind_of(&v)));
        }
    }
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let raw: RawSnapshot = match serde_path_to_error::deserialize(&mut de) {
        Ok(raw) => raw,
        Err(e) => {
            let path = e.path().to_string();
            let inner = e.into_inner();
            return Err(match inner.classify() {
                serde_json::error::Category::Data => {
                    MaasError::shape(origin, path, inner.to_string())
                }
                _ => MaasError::Json {
                    origin: origin.to_string(),
                    message: inner.to_string(),
                },
            });
        }
    };
    de.end().map_err(|e| MaasError::Json {
        origin: origin.to_string(),
        message: e.to_string(),
    })?;
    model_from_raw(raw, origin)
}

/// Reads a snapshot file (or a fixture directory, see [`snapshot_from_fixture_dir`]) into the
/// provider model.
pub fn model_from_path(path: &Path) -> Result<ProviderModel, MaasError> {
    let origin = path.display().to_string();
    if path.is_dir() {
        let snap = snapshot_from_fixture_dir(path)?;
        return model_from_snapshot_in(&snap, &origin);
    }
    let bytes = read_input(path)?;
    model_from_slice(&bytes, &origin)
}

/// Reads an input file: a regular file of at most `MAX_INPUT_FILE` bytes (a FIFO or
/// `/dev/zero` is refused rather than read until memory runs out).
fn read_input(path: &Path) -> Result<Vec<u8>, MaasError> {
    use preflight_model::limits::{read_bounded, ReadError, MAX_INPUT_FILE};
    read_bounded(path, MAX_INPUT_FILE).map_err(|e| {
        let path = path.display().to_string();
        match e {
            ReadError::Io { source, .. } => MaasError::Io {
                path,
                error: source,
            },
            other => MaasError::Io {
                error: std::io::Error::new(std::io::ErrorKind::InvalidInput, other.to_string()),
                path,
            },
        }
    })
}

/// Reads a snapshot file into its JSON value (checking only that it is a JSON object).
pub fn read_snapshot_file(path: &Path) -> Result<Value, MaasError> {
    let origin = path.display().to_string();
    let bytes = read_input(path)?;
    let value: Value = serde_json::from_slice(&bytes).map_err(|e| MaasError::Json {
        origin: origin.clone(),
        message: e.to_string(),
    })?;
    if !value.is_object() {
        return Err(not_an_object(&origin, kind_of(&value)));
    }
    Ok(value)
}

/// Assembles a directory laid out like `tests/fixtures/maas` (one file per MAAS endpoint:
/// `version.json`, `spaces.json`, `fabrics.json`, `vlans-fabric-N.json`, `subnets.json`,
/// `machines.json`, `zones.json`, `tags.json`, `resourcepools.json`) into one snapshot value.
pub fn snapshot_from_fixture_dir(dir: &Path) -> Result<Value, MaasError> {
    let read = |name: &str| -> Result<Option<Value>, MaasError> {
        let path = dir.join(name);
        match std::fs::read(&path) {
            Ok(bytes) => serde_json::from_slice(&bytes)
                .map(Some)
                .map_err(|e| MaasError::Json {
                    origin: path.display().to_string(),
                    message: e.to_string(),
                }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(source) => Err(MaasError::Io {
                path: path.display().to_string(),
                error: source,
            }),
        }
    };
    let mut out = serde_json::Map::new();
    for (key, file, required) in [
        ("version", "version.json", false),
        ("spaces", "spaces.json", true),
        ("fabrics", "fabrics.json", true),
        ("subnets", "subnets.json", true),
        ("machines", "machines.json", true),
        ("zones", "zones.json", false),
        ("tags", "tags.json", false),
        ("resourcepools", "resourcepools.json", false),
        ("ipranges", "ipranges.json", false),
    ] {
        match read(file)? {
            Some(v) => {
                out.insert(key.to_string(), v);
            }
            None if required => {
                return Err(MaasError::Io {
                    path: dir.join(file).display().to_string(),
                    error: std::io::Error::new(
                        std::io::ErrorKind::NotFound,
                        "required endpoint file is missing",
                    ),
                })
            }
            None => {}
        }
    }
    let mut vlans = serde_json::Map::new();
    let entries = std::fs::read_dir(dir).map_err(|source| MaasError::Io {
        path: dir.display().to_string(),
        error: source,
    })?;
    for entry in entries {
        let entry = entry.map_err(|source| MaasError::Io {
            path: dir.display().to_string(),
            error: source,
        })?;
        let name = entry.file_name().to_string_lossy().to_string();
        if let Some(id) = name
            .strip_prefix("vlans-fabric-")
            .and_then(|s| s.strip_suffix(".json"))
        {
            if let Some(v) = read(&name)? {
                vlans.insert(id.to_string(), v);
            }
        }
    }
    if !vlans.is_empty() {
        out.insert("vlans".to_string(), Value::Object(vlans));
    }
    Ok(Value::Object(out))
}

fn not_an_object(origin: &str, found: &str) -> MaasError {
    MaasError::shape(
        origin,
        ".".to_string(),
        format!("a snapshot is a JSON object keyed by endpoint, found {found}"),
    )
}

fn kind_of(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// Space names → ids, and the fabric names → ids, used while resolving cross-references.
struct Resolver {
    origin: String,
    space_ids: HashMap<String, i64>,
    fabric_ids: HashMap<String, i64>,
}

impl Resolver {
    /// Resolves a space name: `undefined` (or none) is no space; an unknown name is an error.
    fn space(
        &self,
        name: Option<&str>,
        path: impl FnOnce() -> String,
    ) -> Result<Option<i64>, MaasError> {
        match name {
            None | Some(UNDEFINED_SPACE_NAME) => Ok(None),
            Some(n) => match self.space_ids.get(n) {
                Some(id) => Ok(Some(*id)),
                None => Err(MaasError::shape(
                    &self.origin,
                    path(),
                    format!("space {n:?} is not in the spaces list"),
                )),
            },
        }
    }

    /// The fabric of a VLAN: its `fabric_id`, else the fabric named by `fabric`.
    fn fabric_of(&self, v: &RawVlan) -> Option<i64> {
        v.fabric_id.or_else(|| {
            v.fabric
                .as_deref()
                .and_then(|n| self.fabric_ids.get(n).copied())
        })
    }
}

/// The one conversion from the raw MAAS shapes into the model, for every source.
fn model_from_raw(raw: RawSnapshot, origin: &str) -> Result<ProviderModel, MaasError> {
    let mut model = ProviderModel {
        version: raw.version.and_then(|v| v.version),
        ..ProviderModel::default()
    };

    // Spaces (the pseudo-space `undefined`, id -1, is not a space).
    let mut space_ids = HashMap::new();
    let mut space_vlans: Vec<(usize, Vec<RawVlan>)> = Vec::new();
    for (i, s) in raw.spaces.into_iter().enumerate() {
        if let Some(vl) = s.vlans {
            space_vlans.push((i, vl));
        }
        if s.id == UNDEFINED_SPACE_ID || s.name == UNDEFINED_SPACE_NAME {
            continue;
        }
        space_ids.insert(s.name.clone(), s.id);
        model.spaces.insert(
            s.id,
            Space {
                id: s.id,
                name: s.name,
                description: s.description.filter(|d| !d.is_empty()),
            },
        );
    }

    // Fabrics.
    let mut fabric_ids = HashMap::new();
    let mut fabric_vlans: Vec<(i64, Vec<RawVlan>)> = Vec::new();
    for f in raw.fabrics {
        fabric_ids.insert(f.name.clone(), f.id);
        if let Some(vl) = f.vlans {
            fabric_vlans.push((f.id, vl));
        }
        model.fabrics.insert(
            f.id,
            Fabric {
                id: f.id,
                name: f.name,
            },
        );
    }
    let res = Resolver {
        origin: origin.to_string(),
        space_ids,
        fabric_ids,
    };

    // VLAN space fallback for 2.0 shapes, whose VLANs carry no `space`: the space of the
    // subnets on that VLAN.
    let mut space_by_vlan_from_subnets: HashMap<i64, Option<String>> = HashMap::new();
    for s in &raw.subnets {
        space_by_vlan_from_subnets
            .entry(s.vlan.id)
            .or_insert_with(|| s.space.clone());
    }

    // VLANs, first seen wins: the per-fabric VLAN endpoint, the fabrics' embedded lists, then
    // the VLAN objects nested in subnets and interfaces.
    let add_vlan = |model: &mut ProviderModel,
                    v: &RawVlan,
                    fabric_hint: Option<i64>,
                    path: &dyn Fn() -> String|
     -> Result<(), MaasError> {
        if model.vlans.contains_key(&v.id) {
            return Ok(());
        }
        let fabric_id = match res.fabric_of(v).or(fabric_hint) {
            Some(id) => id,
            None => {
                return Err(MaasError::shape(
                    origin,
                    path(),
                    format!("VLAN {} names no known fabric", v.id),
                ))
            }
        };
        model.fabrics.entry(fabric_id).or_insert_with(|| Fabric {
            id: fabric_id,
            name: v
                .fabric
                .clone()
                .unwrap_or_else(|| format!("fabric-{fabric_id}")),
        });
        let space_name = match &v.space {
            Some(s) => Some(s.clone()),
            None => space_by_vlan_from_subnets.get(&v.id).cloned().flatten(),
        };
        let space_id = res.space(space_name.as_deref(), || format!("{}.space", path()))?;
        model.vlans.insert(
            v.id,
            Vlan {
                id: v.id,
                fabric_id,
                vid: v.vid,
                name: v.name.clone(),
                mtu: v.mtu.unwrap_or(DEFAULT_MTU),
                space_id,
            },
        );
        Ok(())
    };
    if let Some(map) = &raw.vlans {
        for (key, list) in map {
            let fabric_id: i64 = key.parse().map_err(|_| {
                MaasError::shape(
                    origin,
                    format!("vlans.{key}"),
                    "keys of `vlans` must be fabric ids (integers)".to_string(),
                )
            })?;
            for (i, v) in list.iter().enumerate() {
                add_vlan(&mut model, v, Some(fabric_id), &|| {
                    format!("vlans.{key}[{i}]")
                })?;
            }
        }
    }
    for (fi, (fabric_id, list)) in fabric_vlans.iter().enumerate() {
        for (i, v) in list.iter().enumerate() {
            add_vlan(&mut model, v, Some(*fabric_id), &|| {
                format!("fabrics[{fi}].vlans[{i}]")
            })?;
        }
    }
    for (si, list) in &space_vlans {
        for (i, v) in list.iter().enumerate() {
            add_vlan(&mut model, v, None, &|| format!("spaces[{si}].vlans[{i}]"))?;
        }
    }
    for (i, s) in raw.subnets.iter().enumerate() {
        add_vlan(&mut model, &s.vlan, None, &|| format!("subnets[{i}].vlan"))?;
    }
    for (mi, m) in raw.machines.iter().enumerate() {
        for (ii, iface) in m.interface_set.iter().flatten().enumerate() {
            if let Some(v) = &iface.vlan {
                add_vlan(&mut model, v, None, &|| {
                    format!("machines[{mi}].interface_set[{ii}].vlan")
                })?;
            }
        }
    }

    // Subnets, by id: two fabrics may carry the same CIDR.
    for (i, s) in raw.subnets.into_iter().enumerate() {
        let cidr: IpNet = s.cidr.parse().map_err(|_| {
            MaasError::shape(
                origin,
                format!("subnets[{i}].cidr"),
                format!("not a CIDR: {:?}", s.cidr),
            )
        })?;
        let gateway = match s.gateway_ip.as_deref() {
            None | Some("") => None,
            Some(g) => Some(g.parse::<IpAddr>().map_err(|_| {
                MaasError::shape(
                    origin,
                    format!("subnets[{i}].gateway_ip"),
                    format!("not an IP address: {g:?}"),
                )
            })?),
        };
        let mut dns_servers = Vec::new();
        for (j, d) in s.dns_servers.iter().flatten().enumerate() {
            dns_servers.push(d.parse::<IpAddr>().map_err(|_| {
                MaasError::shape(
                    origin,
                    format!("subnets[{i}].dns_servers[{j}]"),
                    format!("not an IP address: {d:?}"),
                )
            })?);
        }
        let space_id = match &s.space {
            Some(name) => res.space(Some(name), || format!("subnets[{i}].space"))?,
            None => model.vlans.get(&s.vlan.id).and_then(|v| v.space_id),
        };
        model.subnets.insert(
            s.id,
            Subnet {
                id: s.id,
                name: s.name.unwrap_or_else(|| s.cidr.clone()),
                cidr,
                vlan_id: s.vlan.id,
                space_id,
                gateway,
                managed: s.managed.unwrap_or(true),
                dns_servers,
            },
        );
    }

    // Machines.
    for (mi, m) in raw.machines.into_iter().enumerate() {
        model.machines.push(machine_from_raw(m, mi, origin)?);
    }
    model.machines.sort_by(|a, b| a.system_id.cmp(&b.system_id));

    for (i, r) in raw.ipranges.unwrap_or_default().into_iter().enumerate() {
        if r.start_ip.is_ipv4() != r.end_ip.is_ipv4() {
            return Err(MaasError::shape(
                origin,
                format!("ipranges[{i}].end_ip"),
                format!(
                    "{} and start_ip {} are of different families",
                    r.end_ip, r.start_ip
                ),
            ));
        }
        model.ip_ranges.push(preflight_model::provider::IpRange {
            id: r.id,
            kind: match r.kind.as_str() {
                "dynamic" => preflight_model::provider::IpRangeKind::Dynamic,
                "reserved" => preflight_model::provider::IpRangeKind::Reserved,
                other => preflight_model::provider::IpRangeKind::Other(other.to_string()),
            },
            start: r.start_ip,
            end: r.end_ip,
            subnet_id: r.subnet.map(|s| match s {
                RawRef::Id(id) | RawRef::Object { id } => id,
            }),
            comment: r.comment.filter(|c| !c.is_empty()),
        });
    }
    model.zones = names(raw.zones);
    model.pools = names(raw.resourcepools);
    model.tags = names(raw.tags);
    Ok(model)
}

fn names(list: Option<Vec<RawNamed>>) -> Vec<String> {
    list.unwrap_or_default()
        .into_iter()
        .map(|n| n.name)
        .collect()
}

fn parse_ip(s: &str, origin: &str, path: impl FnOnce() -> String) -> Result<IpAddr, MaasError> {
    s.parse::<IpAddr>()
        .map_err(|_| MaasError::shape(origin, path(), format!("not an IP address: {s:?}")))
}

fn machine_from_raw(m: RawMachine, mi: usize, origin: &str) -> Result<Machine, MaasError> {
    let root_disk_mib = m
        .boot_disk
        .as_ref()
        .and_then(|d| d.size)
        .or_else(|| {
            m.blockdevice_set
                .as_ref()
                .and_then(|b| b.first())
                .and_then(|d| d.size)
        })
        .map(|bytes| bytes / MIB);
    let mut interfaces = Vec::new();
    for (ii, iface) in m.interface_set.into_iter().flatten().enumerate() {
        interfaces.push(interface_from_raw(iface, mi, ii, origin)?);
    }
    let mut ip_addresses = Vec::new();
    for (k, ip) in m.ip_addresses.into_iter().flatten().enumerate() {
        ip_addresses.push(parse_ip(&ip, origin, || {
            format!("machines[{mi}].ip_addresses[{k}]")
        })?);
    }
    let status = m
        .status_name
        .or_else(|| m.status.map(|s| format!("status {s}")))
        .unwrap_or_else(|| "Unknown".to_string());
    Ok(Machine {
        system_id: m.system_id,
        hostname: m.hostname,
        fqdn: m.fqdn.filter(|f| !f.is_empty()),
        status: status.into(),
        architecture: m.architecture.filter(|a| !a.is_empty()),
        cpu_count: m.cpu_count,
        cpu_speed_mhz: m.cpu_speed.filter(|s| *s > 0),
        memory_mib: m.memory,
        root_disk_mib,
        zone: m.zone.map(|z| z.name),
        pool: m.pool.map(|p| p.name),
        tags: m.tag_names.unwrap_or_default(),
        interfaces,
        ip_addresses,
    })
}

fn interface_from_raw(
    iface: RawInterface,
    mi: usize,
    ii: usize,
    origin: &str,
) -> Result<Interface, MaasError> {
    let kind = match iface.kind.as_str() {
        "physical" => InterfaceKind::Physical,
        "bond" => InterfaceKind::Bond,
        "vlan" => InterfaceKind::Vlan,
        "bridge" => InterfaceKind::Bridge,
        other => InterfaceKind::Other(other.to_string()),
    };
    let params = iface.params.as_ref().and_then(Value::as_object);
    let bond_mode = params
        .and_then(|p| p.get("bond_mode"))
        .and_then(Value::as_str)
        .filter(|_| kind == InterfaceKind::Bond)
        .map(str::to_string);
    let params_mtu = params
        .and_then(|p| p.get("mtu"))
        .and_then(Value::as_u64)
        .and_then(|m| u32::try_from(m).ok());
    let effective_mtu = iface
        .effective_mtu
        .or(params_mtu)
        .or_else(|| iface.vlan.as_ref().and_then(|v| v.mtu))
        .unwrap_or(DEFAULT_MTU);
    let mut links = Vec::new();
    for (li, l) in iface.links.into_iter().flatten().enumerate() {
        let ip = match l.ip_address.as_deref() {
            None | Some("") => None,
            Some(s) => Some(parse_ip(s, origin, || {
                format!("machines[{mi}].interface_set[{ii}].links[{li}].ip_address")
            })?),
        };
        links.push(InterfaceLink {
            id: l.id,
            mode: l.mode.into(),
            subnet_id: l.subnet.map(|s| s.id),
            ip,
        });
    }
    Ok(Interface {
        id: iface.id,
        name: iface.name,
        kind,
        mac: iface
            .mac_address
            .filter(|m| !m.is_empty())
            .map(|m| preflight_model::vocab::MacAddr::parse(&m)),
        enabled: iface.enabled.unwrap_or(true),
        vlan_id: iface.vlan.map(|v| v.id),
        effective_mtu,
        parents: iface.parents.unwrap_or_default(),
        children: iface.children.unwrap_or_default(),
        bond_mode: bond_mode.map(Into::into),
        links,
    })
}
