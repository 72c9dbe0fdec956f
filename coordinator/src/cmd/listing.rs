//! `preflight spaces` and `preflight subnets`.

use std::process::ExitCode;

use super::common::ProviderArgs;

/// Output format of the listings.
#[derive(clap::ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ListFormat {
    /// A table, like `juju spaces`.
    Text,
    /// JSON (a list of objects with ids, VLAN, MTU, machines).
    Json,
}

/// Flags of `preflight spaces`.
#[derive(clap::Args, Debug)]
#[command(
    long_about = "List MAAS spaces with their subnets, and for each subnet its fabric, VLAN (vid and name), \
MTU and the machines with a link there. The pseudo-space `undefined` (subnets in no space) comes last.\n\n\
Examples:\n  preflight spaces --provider maas.json\n  preflight spaces --maas-url http://maas:5240/MAAS --api-key-file maas.key --format json"
)]
pub(crate) struct SpacesArgs {
    #[command(flatten)]
    provider: ProviderArgs,
    /// Output format.
    #[arg(long, value_enum, default_value = "text")]
    format: ListFormat,
}

/// Flags of `preflight subnets`.
#[derive(clap::Args, Debug)]
#[command(
    long_about = "List MAAS subnets by CIDR with space, fabric, VLAN (vid and name), MTU, gateway, whether MAAS \
manages it, and the machines with a link there. Subnets with the same CIDR on two fabrics are two lines.\n\n\
Examples:\n  preflight subnets --provider maas.json\n  preflight subnets --provider maas.json --space storage --format json"
)]
pub(crate) struct SubnetsArgs {
    #[command(flatten)]
    provider: ProviderArgs,
    /// Only the subnets of this space (`undefined` for subnets in no space).
    #[arg(long, value_name = "SPACE")]
    space: Option<String>,
    /// Output format.
    #[arg(long, value_enum, default_value = "text")]
    format: ListFormat,
}

fn print(text: &str) -> anyhow::Result<()> {
    super::common::write_output(None, text)
}

/// Runs `preflight spaces`.
pub(crate) async fn run_spaces(args: SpacesArgs) -> anyhow::Result<ExitCode> {
    let model = preflight_maas::load_provider(&args.provider.source()?).await?;
    let rows = preflight_maas::listing::spaces(&model);
    match args.format {
        ListFormat::Text => print(&preflight_maas::listing::render_spaces(&rows))?,
        ListFormat::Json => print(&format!("{}\n", serde_json::to_string_pretty(&rows)?))?,
    }
    Ok(ExitCode::SUCCESS)
}

/// Runs `preflight subnets`.
pub(crate) async fn run_subnets(args: SubnetsArgs) -> anyhow::Result<ExitCode> {
    let model = preflight_maas::load_provider(&args.provider.source()?).await?;
    if let Some(space) = &args.space {
        if space != preflight_maas::snapshot::UNDEFINED_SPACE_NAME
            && model.space_by_name(space).is_none()
        {
            let known: Vec<&str> = model.spaces.values().map(|s| s.name.as_str()).collect();
            anyhow::bail!("no space named {space:?} (spaces: {})", known.join(", "));
        }
    }
    let rows = preflight_maas::listing::subnets(&model, args.space.as_deref());
    match args.format {
        ListFormat::Text => print(&preflight_maas::listing::render_subnets(&rows))?,
        ListFormat::Json => print(&format!("{}\n", serde_json::to_string_pretty(&rows)?))?,
    }
    Ok(ExitCode::SUCCESS)
}
