//! Step 2 of the data line: the deployment intent of a Juju bundle (with overlays and charm
//! metadata), parsed the way Juju does.
