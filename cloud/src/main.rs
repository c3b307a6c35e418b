//! `onestop-cloud`: the campus cloud. Today it can inspect a document store; the website, the
//! back office, the statistics and the sync listener are being built on the same store.

use anyhow::Result;
use clap::{Parser, Subcommand};
use onestop_sync::{Durability, Store};
use std::path::PathBuf;

/// Onestop campus cloud.
///
/// The cloud will host the public website, the back office, cross-hall statistics and the
/// listener that halls sync with. This build provides the store inspection below; the rest is
/// not in this build yet.
#[derive(Parser)]
#[command(name = "onestop-cloud", version, about, long_about)]
struct Cli {
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// List the documents in an Onestop store (a cloud's or a hall's) with their sizes.
    Inspect {
        /// The SQLite store file, e.g. a hall's onestop.sqlite.
        #[arg(long)]
        store: PathBuf,
    },
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
        Cmd::Inspect { store } => {
            if !store.exists() {
                anyhow::bail!("{} does not exist", store.display());
            }
            let s = Store::open(&store, Durability::Normal)?;
            println!("store {} · actor {} · clock {:?}", store.display(), s.actor(), s.last_stamp());
            println!("{:<36} {:>10} {:>12} {:>7}", "document", "snapshot", "incremental", "chunks");
            for id in s.list_docs()? {
                let b = s.chunk_bytes(&id)?;
                println!("{:<36} {:>10} {:>12} {:>7}", id.to_string(), b.snapshot, b.incremental, b.chunks);
            }
            Ok(())
        }
    }
}
