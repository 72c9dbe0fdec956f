//! `preflight-agent observe`.

use std::io::{BufWriter, Write};
use std::process::ExitCode;

use anyhow::Context;
use preflight_inventory::{observe, render_text, ObserveOptions};

/// Output format of `observe`.
#[derive(clap::ValueEnum, Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) enum Format {
    /// The preflight.observed/v1 JSON document (pretty-printed), as the coordinator reads it.
    #[default]
    Json,
    /// A readable table, one row per link: name, kind, state, MTU, master, addresses.
    Text,
}

/// Flags of `preflight-agent observe`.
#[derive(clap::Args, Debug)]
#[command(
    after_long_help = "Reads three netlink dumps (links, addresses, routes of every \
table, IPv4 and IPv6), joins them by ifindex and adds the machine's identity (hostname, \
/etc/machine-id, --machine-id, agent version, time).\n\n\
Examples:\n  \
preflight-agent observe                       # JSON (schema preflight.observed/v1)\n  \
preflight-agent observe --format text         # a per-link table like `ip -br addr`\n  \
preflight-agent observe --machine-id 4y3h7n   # record the MAAS system_id\n  \
ip netns exec NS preflight-agent observe      # another network namespace\n\n\
Exit codes: 0 printed; 2 the configuration could not be read (no netlink socket, permission \
denied, or links kept changing during every one of 5 attempts) or bad flags."
)]
pub(crate) struct Args {
    /// MAAS system_id of this machine, recorded in the identity (`identity.system_id`).
    #[arg(long, value_name = "ID")]
    pub machine_id: Option<String>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Json)]
    pub format: Format,
}

/// Runs the subcommand.
pub(crate) async fn run(args: Args) -> anyhow::Result<ExitCode> {
    let opts = ObserveOptions {
        system_id: args.machine_id,
    };
    let config = observe(&opts)
        .await
        .context("cannot read the network configuration")?;
    let stdout = std::io::stdout();
    let mut out = BufWriter::with_capacity(64 * 1024, stdout.lock());
    match args.format {
        Format::Json => {
            serde_json::to_writer_pretty(&mut out, &config).context("cannot write the JSON")?;
            out.write_all(b"\n").context("cannot write the JSON")?;
        }
        Format::Text => out
            .write_all(render_text(&config).as_bytes())
            .context("cannot write the table")?,
    }
    out.flush().context("cannot write the output")?;
    Ok(ExitCode::SUCCESS)
}
