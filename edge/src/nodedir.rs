//! A node's data directory: `node.toml` (the hall it serves, the campus visitor key, where the
//! cloud is) and `onestop.sqlite` (the documents).

use crate::clock::Clock;
use crate::node::{self, Node};
use anyhow::{Context, Result, bail};
use onestop_model::HallId;
use onestop_protocol::secrets::VisitorKey;
use onestop_store::{Durability, Store};
use serde::Deserialize;
use std::path::{Path, PathBuf};

/// `node.toml`.
#[derive(Debug, Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub struct NodeFile {
    pub hall: HallId,
    pub visitor_key: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sync: Option<SyncFile>,
}

/// Where the cloud is and how this node proves who it is.
#[derive(Debug, Clone, Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub struct SyncFile {
    pub cloud: std::net::SocketAddr,
    pub server_name: String,
    pub ca: PathBuf,
    pub cert: PathBuf,
    pub key: PathBuf,
}

pub fn store_path(data: &Path) -> PathBuf {
    data.join("onestop.sqlite")
}

pub fn read_node_toml(data: &Path) -> Result<NodeFile> {
    let path = data.join("node.toml");
    let text = std::fs::read_to_string(&path).with_context(|| {
        format!(
            "cannot read {}: is this a node directory? (make one with `onestop-edge init`)",
            path.display()
        )
    })?;
    toml::from_str(&text).with_context(|| format!("{} is not a valid node file", path.display()))
}

pub fn read_node_file(data: &Path) -> Result<(HallId, VisitorKey)> {
    let f = read_node_toml(data)?;
    let key = VisitorKey::from_hex(&f.visitor_key).with_context(|| {
        format!("{}: visitor_key must be 64 hexadecimal digits", data.join("node.toml").display())
    })?;
    Ok((f.hall, key))
}

/// Whether `e` says the store is damaged (SQLite's check, a file that is not a database, a
/// document that does not load, or a day that cannot be replayed from it).
pub fn is_damage(e: &anyhow::Error) -> bool {
    use onestop_store::StoreFault;
    e.chain().any(|c| {
        c.downcast_ref::<onestop_store::StoreError>().is_some_and(|s| s.kind() == StoreFault::Corrupt)
            || c.downcast_ref::<crate::node::NodeError>().is_some_and(|n| match n {
                crate::node::NodeError::Store(s) => s.kind() == StoreFault::Corrupt,
                crate::node::NodeError::Replay(_) | crate::node::NodeError::Doc(_) => true,
                _ => false,
            })
    })
}

/// `e` with what to do when it says the store is damaged; other errors as they are.
pub fn explain_damage(data: &Path, e: anyhow::Error) -> anyhow::Error {
    if !is_damage(&e) {
        return e;
    }
    e.context(format!(
        "节点数据已损坏。恢复：运行 `onestop-edge store-check --data {d} --set-aside`，再启动节点：今天的记录将从校园云恢复（尚未同步的号票会丢失）
         the node's store is damaged. To recover, run `onestop-edge store-check --data {d} --set-aside` and start the node          again: it restores today from the campus cloud, as a replacement Pi does (tickets not yet synced are lost)",
        d = data.display()
    ))
}

/// Checks the store in `data` (SQLite's quick check, then the catalogue and every day of
/// the hall loaded and read); with `set_aside`, a damaged store is renamed
/// `onestop.sqlite.damaged-<seconds>` (with its journal files) so the next start begins a new
/// one. Returns what it found, for the operator.
pub fn store_check(data: &Path, set_aside: bool, now_s: i64) -> Result<String> {
    let path = store_path(data);
    if !path.exists() {
        bail!("{} does not exist: is this a node directory?", path.display());
    }
    let (hall, _) = read_node_file(data)?;
    let verdict = (|| -> Result<usize> {
        let mut store = Store::open(&path, Durability::Full)?;
        store.check()?;
        let mut days = 0;
        for id in store.list_docs()? {
            match &id {
                onestop_protocol::DocId::Day { hall: h, day } if *h == hall => {
                    onestop_store::ReadDocs::day_events(&mut store, &hall, *day)?;
                    days += 1;
                }
                onestop_protocol::DocId::Catalog => {
                    onestop_store::ReadDocs::catalog(&mut store)?;
                }
                _ => {}
            }
            store.evict(&id);
        }
        Ok(days)
    })();
    match verdict {
        Ok(days) => Ok(format!("完好 / the store is sound: {days} day(s) of hall {hall} read back")),
        Err(e) if !is_damage(&e) => Err(e),
        Err(e) if !set_aside => Err(explain_damage(data, e)),
        Err(e) => {
            let aside = |suffix: &str| {
                let from = std::path::PathBuf::from(format!("{}{suffix}", path.display()));
                let to = std::path::PathBuf::from(format!("{}.damaged-{now_s}{suffix}", path.display()));
                (from, to)
            };
            for suffix in ["", "-wal", "-shm"] {
                let (from, to) = aside(suffix);
                if from.exists() {
                    std::fs::rename(&from, &to)
                        .with_context(|| format!("cannot move {} aside", from.display()))?;
                }
            }
            Ok(format!(
                "已移开 / the damaged store ({e:#}) is now {}; start the node again to restore today from the cloud",
                aside("").1.display()
            ))
        }
    }
}

/// Opens the node in `data` on the wall clock `raw`, bounded by what the store last wrote (see
/// [`node::bounded_clock`]).
pub fn open_node(data: &Path, raw: std::sync::Arc<dyn Clock>) -> Result<Node> {
    let (hall, key) = read_node_file(data)?;
    let opened = (|| -> Result<Node> {
        let store = Store::open(&store_path(data), Durability::Full)?;
        let clock = node::bounded_clock(raw, &store, crate::clock::TimeBounds::default());
        Ok(Node::open(node::share(store), hall, Box::new(clock), key)?)
    })();
    opened.map_err(|e| explain_damage(data, e))
}

/// Opens the node in `data` for a simulation: on `clock` as it is (the simulation moves it)
/// and with another durability (a simulated history needs no fsync per command).
pub fn open_node_with(data: &Path, clock: Box<dyn Clock>, durability: Durability) -> Result<Node> {
    let (hall, key) = read_node_file(data)?;
    let store = Store::open(&store_path(data), durability)?;
    Ok(Node::open(node::share(store), hall, clock, key)?)
}
