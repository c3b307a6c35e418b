//! `onestop-provision`: campus IT's tool. Today it makes the secrets a catalogue and a node
//! need; the campus CA, join tokens, enrollment, renewal and revocation come next.

use anyhow::{Context, Result};
use clap::{Parser, Subcommand};
use std::io::BufRead;

/// Onestop provisioning tool for campus IT.
///
/// Makes the secrets halls need. The campus CA, join tokens, node enrollment, renewal,
/// revocation and the node inventory are not in this build yet.
#[derive(Parser)]
#[command(name = "onestop-provision", version, about, long_about)]
struct Cli {
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Read a window PIN (4-12 digits) from standard input and print its argon2 hash, for a
    /// staff member's `pin_hash` in the catalogue.
    HashPin,
    /// Print a new campus visitor key (64 hex digits): the same key goes to every hall, so a
    /// campus card maps to the same pseudonym everywhere.
    VisitorKey,
}

fn main() -> std::process::ExitCode {
    match run(Cli::parse()) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("错误 / error: {e:#}");
            std::process::ExitCode::from(2)
        }
    }
}

fn run(cli: Cli) -> Result<()> {
    match cli.command {
        Cmd::HashPin => {
            let mut line = String::new();
            std::io::stdin()
                .lock()
                .read_line(&mut line)
                .context("cannot read the PIN from standard input")?;
            println!("{}", onestop_sync::secrets::hash_pin(line.trim())?);
        }
        Cmd::VisitorKey => {
            let mut bytes = [0u8; 32];
            getrandom::fill(&mut bytes).map_err(|e| anyhow::anyhow!("no OS randomness: {e}"))?;
            println!("{}", bytes.iter().map(|b| format!("{b:02x}")).collect::<String>());
        }
    }
    Ok(())
}
