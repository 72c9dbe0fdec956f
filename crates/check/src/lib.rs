//! Steps 3–6 of the connectivity check on the coordinator: merge observed with provider data,
//! plan the probes, gather agents' results over HTTP, and build the report.
