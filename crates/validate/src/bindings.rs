//! Binding rules: `binding.unknown-space` and `binding.unknown-endpoint`.

use std::collections::BTreeMap;

use preflight_bundle::{Application, CharmSet, ALPHA_SPACE};
use preflight_model::report::{Code, Severity, Subject};

use crate::candidates::endpoint_list;
use crate::cx::{subject_app, Cx};

/// `binding.unknown-space`: every space `name`'s bindings use (`by_space`: space → endpoints,
/// `""` the default binding) must be a MAAS space or Juju's `alpha`.
pub(crate) fn unknown_space(cx: &mut Cx<'_>, name: &str, by_space: &BTreeMap<String, Vec<String>>) {
    cx.checked(Code::BindingUnknownSpace, subject_app(name));
    for (sp, eps) in by_space {
        if sp == ALPHA_SPACE || cx.space_known(sp) {
            continue;
        }
        let known: Vec<&str> = cx.space_names.iter().copied().collect();
        cx.finding(
            Code::BindingUnknownSpace,
            Severity::Error,
            Subject {
                application: Some(name.to_string()),
                space: Some(sp.clone()),
                endpoint: (eps.len() == 1 && !eps[0].is_empty()).then(|| eps[0].clone()),
                ..Subject::default()
            },
            format!(
                "{name} binds {} to space {sp:?}, which MAAS does not have",
                endpoint_list(eps)
            ),
            Some(format!(
                "bind to one of the MAAS spaces ({}) or create space {sp:?} in MAAS",
                if known.is_empty() {
                    "MAAS has none".to_string()
                } else {
                    known.join(", ")
                }
            )),
        );
    }
}

/// `binding.unknown-endpoint`: with the charm's metadata, every bound endpoint must be one the
/// charm declares. Not evaluated without metadata for the application's charm.
pub(crate) fn unknown_endpoint(
    cx: &mut Cx<'_>,
    name: &str,
    app: &Application,
    charms: Option<&CharmSet>,
) {
    let Some(meta) = charms.and_then(|c| c.get(&app.charm_name())) else {
        return;
    };
    cx.checked(Code::BindingUnknownEndpoint, subject_app(name));
    for ep in app.bindings.endpoints.keys() {
        if meta.has_endpoint(ep) {
            continue;
        }
        let all: Vec<String> = meta.endpoints().into_iter().collect();
        cx.finding(
            Code::BindingUnknownEndpoint,
            Severity::Error,
            Subject {
                application: Some(name.to_string()),
                endpoint: Some(ep.clone()),
                ..Subject::default()
            },
            format!(
                "{name} binds endpoint {ep:?}, which charm {} does not have (per {})",
                meta.name,
                meta.source.display()
            ),
            Some(if meta.reactive {
                format!(
                    "remove or rename the binding; the charm's endpoints are: {}. This is a reactive charm's source metadata, and its layers may add endpoints at build time: if the binding is right, give the built charm's metadata (unpack the .charm) with --charm-dir",
                    all.join(", ")
                )
            } else {
                format!(
                    "remove or rename the binding; the charm's endpoints are: {}",
                    all.join(", ")
                )
            }),
        );
    }
}
