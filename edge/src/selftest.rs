//! `onestop-edge self-test`: checks that this build works on this machine, without devices,
//! network or configuration. Run on a new Pi, and under `qemu-aarch64` on the arm64 build
//! (deploy/package.sh), it exercises the parts that depend on the CPU and the C code compiled
//! in: the device key (ring's P-256), the store (bundled SQLite, Automerge), the queue engine
//! and the printer's ESC/POS encoder, read back by the printer twin.
//!
//! Guarantees: works only inside the directory it is given; reports each check as one line
//! starting with `OK`, and returns an error at the first check that fails.

use crate::devices::printer::escpos::{self, TicketPrint};
use crate::devices::printer::twin;
use crate::node::{self, Node};
use crate::nodedir::{self, NodeFile};
use crate::{SystemClock, script};
use anyhow::{Context, Result, bail, ensure};
use onestop_engine::{Effect, Status};
use onestop_model::HallId;
use onestop_protocol::secrets::VisitorKey;
use onestop_store::{Durability, Store};
use std::io::Write;
use std::path::Path;

/// The hall's commands the self-test runs: a window opens, a visitor takes a number and is
/// called and served.
const DAY: [&str; 5] = ["check-in 1 s001", "issue registry-1", "call 1", "start 1", "finish 1 immediate"];

/// Runs every check in `dir` (an empty directory the caller removes afterwards), writing one
/// line a check to `out`.
pub fn run(dir: &Path, out: &mut dyn Write) -> Result<()> {
    let key = crate::enroll::device_key(&dir.join("device"))?;
    let device = crate::enroll::device_id(&key)?;
    ensure!(
        crate::enroll::device_id(&crate::enroll::device_key(&dir.join("device"))?)? == device,
        "the device key read back differs from the one made"
    );
    writeln!(out, "OK device key: P-256 made and read back, device id {device}")?;

    let data = dir.join("node");
    let hall = HallId::new("main");
    std::fs::create_dir_all(&data).with_context(|| format!("cannot create {}", data.display()))?;
    let visitor_key = "5e1f7e57".repeat(8);
    let file = NodeFile { hall: hall.clone(), visitor_key: visitor_key.clone(), sync: None };
    std::fs::write(data.join("node.toml"), toml::to_string(&file)?)?;
    let catalog = crate::sim::campus_catalog(&hall, 2);
    {
        let mut store = Store::open(&nodedir::store_path(&data), Durability::Full)?;
        node::publish_catalog(&mut store, &catalog, crate::Clock::now(&SystemClock))?;
    }
    writeln!(out, "OK store: a node for hall {hall} with {} services", catalog.services.len())?;

    let mut printed = None;
    {
        let mut node = nodedir::open_node(&data, std::sync::Arc::new(SystemClock))?;
        for line in DAY {
            let cmd = node.resolve(script::parse(line)?).with_context(|| format!("`{line}`"))?;
            let outcome = node.execute(&cmd).with_context(|| format!("`{line}`"))?;
            for effect in outcome.effects {
                if let Effect::PrintTicket { ticket, ahead, wait_estimate_min, .. } = effect {
                    printed = Some((ticket, ahead, wait_estimate_min));
                }
            }
        }
    }
    let Some((ticket, ahead, wait)) = printed else { bail!("issuing a ticket asked for no printout") };
    // A fresh node from the same files: what it shows is what the store kept.
    let store = node::share(Store::open(&nodedir::store_path(&data), Durability::Full)?);
    let again = Node::open(
        store,
        hall.clone(),
        Box::new(SystemClock),
        VisitorKey::from_hex(&visitor_key).context("the visitor key")?,
    )?;
    let kept = again.engine().ticket(ticket).context("the ticket is not in the store")?;
    ensure!(kept.status == Status::Done, "ticket {ticket} is {:?} after reopening, not done", kept.status);
    writeln!(out, "OK queue: ticket {ticket} issued, called, served and read back from the store")?;

    let url = format!("https://onestop.example.edu/t/{ticket}");
    let bytes = escpos::ticket(&TicketPrint {
        hall: "一站式服务大厅".into(),
        hall_en: "Service Hall".into(),
        number: ticket.to_string(),
        service: "教务处业务1".into(),
        service_en: "Registry service 1".into(),
        ahead,
        wait_minutes: wait,
        issued_at: "2026-11-26 09:03".into(),
        url: url.clone(),
        footer: "请留意叫号\nListen for your number".into(),
    });
    let receipts = twin::parse(&bytes);
    let [receipt] = receipts.as_slice() else { bail!("the printout parsed as {} receipts", receipts.len()) };
    ensure!(receipt.unknown.is_empty(), "the twin did not understand: {:?}", receipt.unknown);
    ensure!(receipt.big_text() == Some(ticket.to_string().as_str()), "the ticket number did not print large");
    ensure!(receipt.qr == [url], "the QR code does not hold the ticket's address: {:?}", receipt.qr);
    ensure!(receipt.text().contains("一站式服务大厅"), "the Chinese text did not survive GB18030");
    ensure!(receipt.cut == Some(escpos::Cut::Partial), "the receipt does not end with a partial cut");
    writeln!(out, "OK printer: {} bytes of ESC/POS for {ticket}, read back by the twin", bytes.len())?;
    Ok(())
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_self_test_passes_here() {
        let dir = tempfile::tempdir().unwrap();
        let mut out = Vec::new();
        super::run(dir.path(), &mut out).unwrap();
        let out = String::from_utf8(out).unwrap();
        assert_eq!(out.lines().filter(|l| l.starts_with("OK ")).count(), 4, "{out}");
    }
}
