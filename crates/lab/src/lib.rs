//! The namespace lab: builds hosts, switches, routers and faults as real network namespaces
//! (used by `preflight demo` and the end-to-end tests), and writes the matching MAAS snapshot.

pub mod netns;
