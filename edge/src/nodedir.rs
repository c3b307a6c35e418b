//! A node's data directory: `node.toml` (the hall it serves, the campus visitor key, where the
//! cloud is) and `onestop.sqlite` (the documents).

use crate::clock::Clock;
use crate::node::{self, Node};
use anyhow::{Context, Result};
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

/// Opens the node in `data` on the wall clock `raw`, bounded by what the store last wrote (see
/// [`node::bounded_clock`]).
pub fn open_node(data: &Path, raw: std::sync::Arc<dyn Clock>) -> Result<Node> {
    let (hall, key) = read_node_file(data)?;
    let store = Store::open(&store_path(data), Durability::Full)?;
    let clock = node::bounded_clock(raw, &store, crate::clock::TimeBounds::default());
    Ok(Node::open(node::share(store), hall, Box::new(clock), key)?)
}

/// Opens the node in `data` for a simulation: on `clock` as it is (the simulation moves it)
/// and with another durability (a simulated history needs no fsync per command).
pub fn open_node_with(data: &Path, clock: Box<dyn Clock>, durability: Durability) -> Result<Node> {
    let (hall, key) = read_node_file(data)?;
    let store = Store::open(&store_path(data), durability)?;
    Ok(Node::open(node::share(store), hall, clock, key)?)
}
