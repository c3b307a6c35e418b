//! The cloud's provisioning records, in their own SQLite file (e.g. `provision.sqlite` in the
//! cloud's data directory, WAL mode): join tokens, stored only as hashes, and the node
//! inventory.
//!
//! Invariants:
//! - A token is redeemed at most once: the check and the burn are one transaction.
//! - An approved node's device is never replaced without an approval: another device
//!   claiming the name (or the same name on a re-flashed card) waits as pending, and the
//!   node's record stays as it was until [`Registry::approve`].
//! - A revoked node name stays revoked: it gets no new token, no redemption, no approval.
//! - Node names are unique on the campus (certificates and revocations name nodes only).

use crate::DeviceId;
pub use crate::ProvisionError;
use crate::token::token_hash;
use crate::{from_ms, to_ms};
use onestop_model::HallId;
use rusqlite::{Connection, OptionalExtension, Transaction, TransactionBehavior, params};
use std::fmt;
use std::path::Path;
use std::time::SystemTime;

const SCHEMA_VERSION: i64 = 1;

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS tokens (
    hash TEXT PRIMARY KEY,
    hall TEXT NOT NULL,
    node TEXT NOT NULL,
    expires_ms INTEGER NOT NULL,
    requires_approval INTEGER NOT NULL,
    used_ms INTEGER,
    used_by TEXT
) STRICT;
CREATE TABLE IF NOT EXISTS nodes (
    node TEXT PRIMARY KEY,
    hall TEXT NOT NULL,
    device_id TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('pending', 'active', 'revoked')),
    hardware TEXT NOT NULL,
    enrolled_ms INTEGER NOT NULL,
    cert_not_after_ms INTEGER,
    version TEXT,
    last_seen_ms INTEGER,
    sync_lag_s INTEGER,
    clock_offset_ms INTEGER,
    printer TEXT,
    disk_free_mb INTEGER,
    pending_device TEXT,
    pending_hardware TEXT,
    pending_since_ms INTEGER,
    revoked_ms INTEGER
) STRICT;
CREATE INDEX IF NOT EXISTS nodes_by_device ON nodes (device_id);
CREATE TABLE IF NOT EXISTS node_incidents (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    node TEXT NOT NULL,
    at_ms INTEGER NOT NULL,
    what TEXT NOT NULL
) STRICT;
CREATE INDEX IF NOT EXISTS node_incidents_by_node ON node_incidents (node, id);
CREATE INDEX IF NOT EXISTS nodes_by_pending_device ON nodes (pending_device);
";

/// How many incidents the inventory keeps per node.
pub const INCIDENTS_KEPT: i64 = 20;

const NODE_COLUMNS: &str = "node, hall, device_id, status, hardware, cert_not_after_ms, version, last_seen_ms, \
     sync_lag_s, clock_offset_ms, printer, disk_free_mb, enrolled_ms, pending_device, pending_hardware, \
     pending_since_ms, revoked_ms";

/// Where a node stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum NodeStatus {
    /// Enrolled with a token that needs approval, and not approved yet: gets no certificate.
    Pending,
    /// Approved: its device gets and renews certificates.
    Active,
    /// Revoked: refused at once, and the name is never used again.
    Revoked,
}

impl NodeStatus {
    /// `pending`, `active` or `revoked`.
    pub fn as_str(self) -> &'static str {
        match self {
            NodeStatus::Pending => "pending",
            NodeStatus::Active => "active",
            NodeStatus::Revoked => "revoked",
        }
    }

    fn parse(s: &str) -> Option<NodeStatus> {
        [NodeStatus::Pending, NodeStatus::Active, NodeStatus::Revoked].into_iter().find(|v| v.as_str() == s)
    }
}

impl fmt::Display for NodeStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A node in the inventory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeRecord {
    pub node: String,
    pub hall: HallId,
    /// The node's device (canonical [`DeviceId`] form): the one approved, or for a node still
    /// [`NodeStatus::Pending`] the one that enrolled.
    pub device_id: String,
    pub status: NodeStatus,
    /// What the device said about its hardware when it enrolled (e.g. the board's serial).
    pub hardware: String,
    /// The notAfter of the last certificate issued to `device_id`.
    pub cert_not_after: Option<SystemTime>,
    pub version: Option<String>,
    pub last_seen: Option<SystemTime>,
    pub sync_lag_s: Option<i64>,
    pub clock_offset_ms: Option<i64>,
    pub printer: Option<String>,
    pub disk_free_mb: Option<i64>,
    /// When `device_id` joined as this node.
    pub enrolled: SystemTime,
    /// A device waiting for approval to be this node (a new node's own device, a re-flashed
    /// card, or another device claiming the name).
    pub pending_device: Option<String>,
    /// The hardware the pending device reported.
    pub pending_hardware: Option<String>,
    /// When the pending device asked.
    pub pending_since: Option<SystemTime>,
    /// When the node was revoked.
    pub revoked_at: Option<SystemTime>,
}

/// What a node reports about itself. `None` leaves the last known value in place.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NodeReport {
    pub version: Option<String>,
    pub sync_lag_s: Option<i64>,
    pub clock_offset_ms: Option<i64>,
    pub printer: Option<String>,
    pub disk_free_mb: Option<i64>,
}

/// What a redeemed token leads to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// The device is the node's approved device: it may have its certificate now.
    Approved,
    /// The device waits for IT's approval ([`Registry::approve`]); it gets no certificate yet.
    Pending,
}

/// A redeemed token: the hall and node it was made for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Redeemed {
    pub hall: HallId,
    pub node: String,
    pub outcome: Outcome,
}

/// Why a token was not redeemed. The token is burned only on success.
#[derive(Debug, thiserror::Error)]
pub enum RedeemError {
    #[error("加入令牌无效 / this join token is not known")]
    Unknown,
    #[error("加入令牌已使用 / this join token was already used")]
    Used,
    #[error("加入令牌已过期 / this join token has expired")]
    Expired,
    #[error("节点已吊销 / node {0:?} is revoked; ask IT for a token with a new node name")]
    Revoked(String),
    #[error("节点名已被其他大厅使用 / node {node:?} already belongs to hall {hall:?}")]
    NodeInOtherHall { node: String, hall: String },
    #[error("此设备已登记为其他节点 / this device is already enrolled as node {0:?}")]
    DeviceTaken(String),
    #[error("供应数据库出错 / the provisioning database failed: {0}")]
    Store(#[from] rusqlite::Error),
}

/// A join token as stored (its hash, never the token).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenRecord {
    pub hash: String,
    pub hall: HallId,
    pub node: String,
    pub expires: SystemTime,
    pub requires_approval: bool,
    /// When it was redeemed, and by which device.
    pub used: Option<(SystemTime, String)>,
}

/// The provisioning records. One connection; wrap it in a mutex to share it.
pub struct Registry {
    conn: Connection,
}

impl fmt::Debug for Registry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Registry").field("path", &self.conn.path()).finish()
    }
}

impl Registry {
    /// Opens (creating if missing) the registry at `path`, in WAL mode with full sync, waiting
    /// up to 5 s for another process (e.g. the IT tool beside the cloud) to finish writing.
    pub fn open(path: &Path) -> Result<Registry, ProvisionError> {
        let conn = Connection::open(path)?;
        conn.busy_timeout(std::time::Duration::from_secs(5))?;
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "FULL")?;
        let version: i64 = conn.pragma_query_value(None, "user_version", |r| r.get(0))?;
        if version > SCHEMA_VERSION {
            return Err(ProvisionError::NewerSchema {
                path: path.to_path_buf(),
                found: version,
                known: SCHEMA_VERSION,
            });
        }
        conn.execute_batch(SCHEMA)?;
        conn.pragma_update(None, "user_version", SCHEMA_VERSION)?;
        Ok(Registry { conn })
    }

    fn immediate(&self) -> rusqlite::Result<Transaction<'_>> {
        Transaction::new_unchecked(&self.conn, TransactionBehavior::Immediate)
    }

    /// Stores a join token by its hash ([`token_hash`]): it makes `node` of `hall`, is good
    /// until `expires`, and if `requires_approval` its device waits for IT's approval.
    /// Refuses something that is not a hash (64 lower-case hex digits), an invalid hall or
    /// node name, a node name revoked or used in another hall, and a hash already stored.
    pub fn add_token(
        &self,
        hash: &str,
        hall: &HallId,
        node: &str,
        expires: SystemTime,
        requires_approval: bool,
    ) -> Result<(), ProvisionError> {
        if hash.len() != 64 || !hash.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)) {
            return Err(ProvisionError::Issue(
                "add_token takes the token's hash (64 hex digits), never the token".into(),
            ));
        }
        if !crate::valid_hall_id(hall.as_str()) {
            return Err(ProvisionError::BadIdentity(format!(
                "hall {:?}: a hall id is 1-32 of a-z, 0-9 and -",
                hall.as_str()
            )));
        }
        if !crate::valid_node_name(node) {
            return Err(ProvisionError::BadIdentity(format!(
                "node {node:?}: a node name is 1-63 of a-z, 0-9 and -, not starting with -"
            )));
        }
        let tx = self.immediate()?;
        if let Some(rec) = node_in(&tx, node)? {
            if rec.hall != *hall {
                return Err(ProvisionError::NodeInOtherHall { node: node.into(), hall: rec.hall.0 });
            }
            if rec.status == NodeStatus::Revoked {
                return Err(ProvisionError::NodeRevoked(node.into()));
            }
        }
        let added = tx.execute(
            "INSERT INTO tokens (hash, hall, node, expires_ms, requires_approval) VALUES (?1, ?2, ?3, ?4, ?5)
             ON CONFLICT (hash) DO NOTHING",
            params![hash, hall.as_str(), node, to_ms(expires), requires_approval],
        )?;
        if added == 0 {
            return Err(ProvisionError::DuplicateToken);
        }
        tx.commit()?;
        Ok(())
    }

    /// The stored tokens, newest expiry first.
    pub fn tokens(&self) -> Result<Vec<TokenRecord>, ProvisionError> {
        let mut stmt = self.conn.prepare(
            "SELECT hash, hall, node, expires_ms, requires_approval, used_ms, used_by FROM tokens
             ORDER BY expires_ms DESC, hash",
        )?;
        let rows = stmt.query_map([], |r| {
            let used = match (r.get::<_, Option<i64>>(5)?, r.get::<_, Option<String>>(6)?) {
                (Some(at), Some(by)) => Some((from_ms(at), by)),
                _ => None,
            };
            Ok(TokenRecord {
                hash: r.get(0)?,
                hall: HallId::new(r.get::<_, String>(1)?),
                node: r.get(2)?,
                expires: from_ms(r.get(3)?),
                requires_approval: r.get(4)?,
                used,
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Redeems a join token for `device` (which reports `hardware`), all in one transaction.
    ///
    /// An unknown token is [`RedeemError::Unknown`], a redeemed one [`RedeemError::Used`], one
    /// past its expiry [`RedeemError::Expired`]; then nothing changes. On success the token is
    /// burned (marked used by `device` at `now`) and the node's record is made or updated:
    /// - no node of that name: a new record, [`Outcome::Approved`] and active, or
    ///   [`Outcome::Pending`] if the token requires approval;
    /// - the node exists with this device: [`Outcome::Approved`] (a re-enrolment), unless the
    ///   token requires approval;
    /// - the node exists with a different device (a re-flashed card, or another device
    ///   claiming the name): [`Outcome::Pending`]; the record keeps its device and status,
    ///   and the new device is recorded as pending until [`approve`](Self::approve).
    ///
    /// A revoked node, a node name of another hall, and a device that already is another
    /// (not revoked) node are refused.
    pub fn redeem(
        &self,
        token: &str,
        device: &DeviceId,
        hardware: &str,
        now: SystemTime,
    ) -> Result<Redeemed, RedeemError> {
        let tx = self.immediate()?;
        let hash = token_hash(token);
        let row = tx
            .query_row(
                "SELECT hall, node, expires_ms, requires_approval, used_ms FROM tokens WHERE hash = ?1",
                [&hash],
                |r| {
                    Ok((
                        r.get::<_, String>(0)?,
                        r.get::<_, String>(1)?,
                        r.get::<_, i64>(2)?,
                        r.get::<_, bool>(3)?,
                        r.get::<_, Option<i64>>(4)?,
                    ))
                },
            )
            .optional()?;
        let Some((hall, node, expires_ms, requires_approval, used_ms)) = row else {
            return Err(RedeemError::Unknown);
        };
        if used_ms.is_some() {
            return Err(RedeemError::Used);
        }
        if to_ms(now) >= expires_ms {
            return Err(RedeemError::Expired);
        }
        let dev = device.as_str();
        let taken: Option<String> = tx
            .query_row(
                "SELECT node FROM nodes WHERE node <> ?1 AND status <> 'revoked'
                 AND (device_id = ?2 OR pending_device = ?2) ORDER BY node LIMIT 1",
                params![node, dev],
                |r| r.get(0),
            )
            .optional()?;
        if let Some(other) = taken {
            return Err(RedeemError::DeviceTaken(other));
        }
        let now_ms = to_ms(now);
        let outcome = match node_in(&tx, &node)? {
            None => {
                let (status, pending) = if requires_approval {
                    (NodeStatus::Pending, Some(dev))
                } else {
                    (NodeStatus::Active, None)
                };
                tx.execute(
                    "INSERT INTO nodes (node, hall, device_id, status, hardware, enrolled_ms,
                                        pending_device, pending_hardware, pending_since_ms)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
                    params![
                        node,
                        hall,
                        dev,
                        status.as_str(),
                        hardware,
                        now_ms,
                        pending,
                        pending.map(|_| hardware),
                        pending.map(|_| now_ms)
                    ],
                )?;
                if requires_approval { Outcome::Pending } else { Outcome::Approved }
            }
            Some(rec) if rec.hall.as_str() != hall => {
                return Err(RedeemError::NodeInOtherHall { node, hall: rec.hall.0 });
            }
            Some(rec) if rec.status == NodeStatus::Revoked => return Err(RedeemError::Revoked(node)),
            Some(rec) if rec.device_id == dev && !requires_approval => {
                // The same device again: it stays (or becomes) the active node; a claim by
                // another device stays pending.
                tx.execute(
                    "UPDATE nodes SET status = 'active', hardware = ?2,
                         pending_hardware = CASE WHEN pending_device = ?3 THEN NULL ELSE pending_hardware END,
                         pending_since_ms = CASE WHEN pending_device = ?3 THEN NULL ELSE pending_since_ms END,
                         pending_device = CASE WHEN pending_device = ?3 THEN NULL ELSE pending_device END
                     WHERE node = ?1",
                    params![node, hardware, dev],
                )?;
                Outcome::Approved
            }
            Some(_) => {
                tx.execute(
                    "UPDATE nodes SET pending_device = ?2, pending_hardware = ?3, pending_since_ms = ?4
                     WHERE node = ?1",
                    params![node, dev, hardware, now_ms],
                )?;
                Outcome::Pending
            }
        };
        tx.execute(
            "UPDATE tokens SET used_ms = ?2, used_by = ?3 WHERE hash = ?1",
            params![hash, now_ms, dev],
        )?;
        tx.commit()?;
        Ok(Redeemed { hall: HallId::new(hall), node, outcome })
    }

    /// The whole inventory, by hall and node name.
    pub fn nodes(&self) -> Result<Vec<NodeRecord>, ProvisionError> {
        self.select(&format!("SELECT {NODE_COLUMNS} FROM nodes ORDER BY hall, node"), [])
    }

    /// The node named `node`, if any.
    pub fn node(&self, node: &str) -> Result<Option<NodeRecord>, ProvisionError> {
        Ok(node_in(&self.conn, node)?)
    }

    /// The nodes with a device waiting for approval, oldest request first.
    pub fn pending(&self) -> Result<Vec<NodeRecord>, ProvisionError> {
        self.select(
            &format!("SELECT {NODE_COLUMNS} FROM nodes WHERE pending_device IS NOT NULL ORDER BY pending_since_ms, node"),
            [],
        )
    }

    /// The node `device` waits to become, if it waits for approval.
    pub fn pending_for_device(&self, device: &DeviceId) -> Result<Option<NodeRecord>, ProvisionError> {
        Ok(self
            .select(
                &format!("SELECT {NODE_COLUMNS} FROM nodes WHERE pending_device = ?1 ORDER BY node LIMIT 1"),
                [device.as_str()],
            )?
            .pop())
    }

    /// The node whose device is `device` (its approved device, or the enrolling device of a
    /// node still pending), preferring one that is not revoked; what a renewal looks up.
    /// Check [`NodeRecord::status`]: only an active node gets certificates.
    pub fn node_for_device(&self, device: &DeviceId) -> Result<Option<NodeRecord>, ProvisionError> {
        Ok(self
            .select(
                &format!(
                    "SELECT {NODE_COLUMNS} FROM nodes WHERE device_id = ?1
                     ORDER BY status = 'revoked', enrolled_ms DESC, node LIMIT 1"
                ),
                [device.as_str()],
            )?
            .pop())
    }

    /// Approves the device waiting to be `node`: the node becomes active with that device. For
    /// a re-flashed card or another device, the device (and its hardware) replaces the old
    /// one, `enrolled` becomes `now` and the old certificate's expiry is forgotten. Returns the
    /// record as it now is.
    pub fn approve(&self, node: &str, now: SystemTime) -> Result<NodeRecord, ProvisionError> {
        let tx = self.immediate()?;
        let rec = node_in(&tx, node)?.ok_or_else(|| ProvisionError::UnknownNode(node.into()))?;
        if rec.status == NodeStatus::Revoked {
            return Err(ProvisionError::NodeRevoked(node.into()));
        }
        let Some(pending) = rec.pending_device.as_deref() else {
            return Err(ProvisionError::NothingPending(node.into()));
        };
        let replaced = pending != rec.device_id;
        tx.execute(
            "UPDATE nodes SET status = 'active', device_id = pending_device,
                 hardware = COALESCE(pending_hardware, hardware),
                 enrolled_ms = CASE WHEN ?2 THEN ?3 ELSE enrolled_ms END,
                 cert_not_after_ms = CASE WHEN ?2 THEN NULL ELSE cert_not_after_ms END,
                 pending_device = NULL, pending_hardware = NULL, pending_since_ms = NULL
             WHERE node = ?1",
            params![node, replaced, to_ms(now)],
        )?;
        let rec = node_in(&tx, node)?.ok_or_else(|| ProvisionError::UnknownNode(node.into()))?;
        tx.commit()?;
        Ok(rec)
    }

    /// Refuses the device waiting to be `node`: its claim is dropped. A node that was never
    /// approved is forgotten altogether (its name is free again); an active node is untouched.
    pub fn reject(&self, node: &str) -> Result<(), ProvisionError> {
        let tx = self.immediate()?;
        let rec = node_in(&tx, node)?.ok_or_else(|| ProvisionError::UnknownNode(node.into()))?;
        if rec.pending_device.is_none() {
            return Err(ProvisionError::NothingPending(node.into()));
        }
        if rec.status == NodeStatus::Pending {
            tx.execute("DELETE FROM nodes WHERE node = ?1", [node])?;
        } else {
            tx.execute(
                "UPDATE nodes SET pending_device = NULL, pending_hardware = NULL, pending_since_ms = NULL
                 WHERE node = ?1",
                [node],
            )?;
        }
        tx.commit()?;
        Ok(())
    }

    /// Revokes `node`: it is listed by [`revoked`](Self::revoked) from now on, any device
    /// waiting to be it is dropped, and the name is never enrolled again. Revoking a revoked
    /// node changes nothing.
    pub fn revoke(&self, node: &str, now: SystemTime) -> Result<(), ProvisionError> {
        let tx = self.immediate()?;
        let changed = tx.execute(
            "UPDATE nodes SET status = 'revoked', revoked_ms = ?2,
                 pending_device = NULL, pending_hardware = NULL, pending_since_ms = NULL
             WHERE node = ?1 AND status <> 'revoked'",
            params![node, to_ms(now)],
        )?;
        if changed == 0 && node_in(&tx, node)?.is_none() {
            return Err(ProvisionError::UnknownNode(node.into()));
        }
        tx.commit()?;
        Ok(())
    }

    /// The names of the revoked nodes, sorted: what the cloud's TLS verifier refuses.
    pub fn revoked(&self) -> Result<Vec<String>, ProvisionError> {
        let mut stmt = self.conn.prepare("SELECT node FROM nodes WHERE status = 'revoked' ORDER BY node")?;
        let rows = stmt.query_map([], |r| r.get(0))?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Records that a certificate valid until `not_after` was issued to `device` as `node`.
    /// Refused unless `node` is active and `device` is its approved device.
    pub fn set_certificate(
        &self,
        node: &str,
        device: &DeviceId,
        not_after: SystemTime,
    ) -> Result<(), ProvisionError> {
        let tx = self.immediate()?;
        let rec = node_in(&tx, node)?.ok_or_else(|| ProvisionError::UnknownNode(node.into()))?;
        match rec.status {
            NodeStatus::Revoked => return Err(ProvisionError::NodeRevoked(node.into())),
            NodeStatus::Pending => return Err(ProvisionError::NotApproved(node.into())),
            NodeStatus::Active => {}
        }
        if rec.device_id != device.as_str() {
            return Err(ProvisionError::WrongDevice { node: node.into(), device: device.to_string() });
        }
        tx.execute(
            "UPDATE nodes SET cert_not_after_ms = ?2 WHERE node = ?1",
            params![node, to_ms(not_after)],
        )?;
        tx.commit()?;
        Ok(())
    }

    /// Records what `node` reports about itself and that it was seen at `now`. Fields the
    /// report leaves `None` keep their last known value.
    pub fn report(&self, node: &str, report: &NodeReport, now: SystemTime) -> Result<(), ProvisionError> {
        let changed = self.conn.execute(
            "UPDATE nodes SET version = COALESCE(?2, version), sync_lag_s = COALESCE(?3, sync_lag_s),
                 clock_offset_ms = COALESCE(?4, clock_offset_ms), printer = COALESCE(?5, printer),
                 disk_free_mb = COALESCE(?6, disk_free_mb), last_seen_ms = ?7
             WHERE node = ?1",
            params![
                node,
                report.version,
                report.sync_lag_s,
                report.clock_offset_ms,
                report.printer,
                report.disk_free_mb,
                to_ms(now)
            ],
        )?;
        if changed == 0 {
            return Err(ProvisionError::UnknownNode(node.into()));
        }
        Ok(())
    }

    /// Records that the cloud refused something `node` sent (a sync message beyond its limits
    /// or quotas, a change it may not make). The same refusal again within ten minutes only
    /// moves its time; a node keeps its last [`INCIDENTS_KEPT`].
    pub fn incident(&self, node: &str, what: &str, now: SystemTime) -> Result<(), ProvisionError> {
        let now_ms = to_ms(now);
        let repeated = self.conn.execute(
            "UPDATE node_incidents SET at_ms = ?3
             WHERE id = (SELECT MAX(id) FROM node_incidents WHERE node = ?1) AND what = ?2 AND at_ms > ?3 - 600000",
            params![node, what, now_ms],
        )?;
        if repeated == 0 {
            self.conn.execute(
                "INSERT INTO node_incidents (node, at_ms, what) VALUES (?1, ?2, ?3)",
                params![node, now_ms, what],
            )?;
            self.conn.execute(
                "DELETE FROM node_incidents WHERE node = ?1 AND id NOT IN
                     (SELECT id FROM node_incidents WHERE node = ?1 ORDER BY id DESC LIMIT ?2)",
                params![node, INCIDENTS_KEPT],
            )?;
        }
        Ok(())
    }

    /// The incidents of `node`, newest first.
    pub fn incidents(&self, node: &str) -> Result<Vec<(SystemTime, String)>, ProvisionError> {
        let mut stmt =
            self.conn.prepare("SELECT at_ms, what FROM node_incidents WHERE node = ?1 ORDER BY id DESC")?;
        let rows = stmt.query_map([node], |r| Ok((from_ms(r.get(0)?), r.get(1)?)))?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    fn select(&self, sql: &str, params: impl rusqlite::Params) -> Result<Vec<NodeRecord>, ProvisionError> {
        let mut stmt = self.conn.prepare(sql)?;
        let rows = stmt.query_map(params, node_from_row)?;
        Ok(rows.collect::<Result<_, _>>()?)
    }
}

fn node_in(conn: &Connection, node: &str) -> rusqlite::Result<Option<NodeRecord>> {
    conn.query_row(&format!("SELECT {NODE_COLUMNS} FROM nodes WHERE node = ?1"), [node], node_from_row)
        .optional()
}

fn node_from_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<NodeRecord> {
    let status: String = r.get(3)?;
    let status = NodeStatus::parse(&status).ok_or_else(|| {
        rusqlite::Error::FromSqlConversionFailure(
            3,
            rusqlite::types::Type::Text,
            format!("unknown node status {status:?}").into(),
        )
    })?;
    let time = |i: usize| r.get::<_, Option<i64>>(i).map(|v| v.map(from_ms));
    Ok(NodeRecord {
        node: r.get(0)?,
        hall: HallId::new(r.get::<_, String>(1)?),
        device_id: r.get(2)?,
        status,
        hardware: r.get(4)?,
        cert_not_after: time(5)?,
        version: r.get(6)?,
        last_seen: time(7)?,
        sync_lag_s: r.get(8)?,
        clock_offset_ms: r.get(9)?,
        printer: r.get(10)?,
        disk_free_mb: r.get(11)?,
        enrolled: from_ms(r.get(12)?),
        pending_device: r.get(13)?,
        pending_hardware: r.get(14)?,
        pending_since: time(15)?,
        revoked_at: time(16)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::token::new_token;
    use std::time::{Duration, UNIX_EPOCH};

    fn t(secs: u64) -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(1_790_000_000 + secs)
    }

    fn dev(name: &str) -> DeviceId {
        DeviceId::of_public_key(name.as_bytes())
    }

    fn main_hall() -> HallId {
        HallId::new("main")
    }

    fn open() -> (tempfile::TempDir, Registry) {
        let dir = tempfile::tempdir().unwrap();
        let reg = Registry::open(&dir.path().join("provision.sqlite")).unwrap();
        (dir, reg)
    }

    /// A fresh token for `node` of hall main, good until t(1000).
    fn token(reg: &Registry, node: &str, requires_approval: bool) -> String {
        let token = new_token();
        reg.add_token(&token_hash(&token), &main_hall(), node, t(1000), requires_approval).unwrap();
        token
    }

    fn enrolled(reg: &Registry, node: &str, device: &DeviceId) {
        let tok = token(reg, node, false);
        assert_eq!(reg.redeem(&tok, device, "serial-1", t(10)).unwrap().outcome, Outcome::Approved);
        reg.set_certificate(node, device, t(90 * 86_400)).unwrap();
    }

    #[test]
    fn incidents_are_kept_newest_first_without_repeats() {
        let (_dir, reg) = open();
        reg.incident("main-pi-1", "hall/main/day/2026-12-06: too big", t(0)).unwrap();
        // The node retrying every few seconds: one incident, its time moved.
        reg.incident("main-pi-1", "hall/main/day/2026-12-06: too big", t(5)).unwrap();
        assert_eq!(
            reg.incidents("main-pi-1").unwrap(),
            vec![(t(5), "hall/main/day/2026-12-06: too big".into())]
        );
        for i in 0..30 {
            reg.incident("main-pi-1", &format!("refusal {i}"), t(10 + i)).unwrap();
        }
        let kept = reg.incidents("main-pi-1").unwrap();
        assert_eq!(kept.len(), INCIDENTS_KEPT as usize);
        assert_eq!(kept[0].1, "refusal 29", "newest first");
        assert!(reg.incidents("east-pi-1").unwrap().is_empty());
    }

    #[test]
    fn a_token_is_redeemed_once() {
        let (_dir, reg) = open();
        let tok = token(&reg, "main-pi-1", false);
        let a = dev("a");
        let got = reg.redeem(&tok, &a, "rpi5 serial 1000abcd", t(10)).unwrap();
        assert_eq!(got, Redeemed { hall: main_hall(), node: "main-pi-1".into(), outcome: Outcome::Approved });

        let node = reg.node("main-pi-1").unwrap().unwrap();
        assert_eq!((node.status, node.device_id.as_str()), (NodeStatus::Active, a.as_str()));
        assert_eq!((node.hardware.as_str(), node.enrolled), ("rpi5 serial 1000abcd", t(10)));
        assert_eq!(node.pending_device, None);
        let stored = reg.tokens().unwrap();
        assert_eq!(stored.len(), 1);
        assert_eq!(stored[0].hash, token_hash(&tok));
        assert_eq!(stored[0].used, Some((t(10), a.to_string())));

        // Again, by the same device or another: refused, and nothing changes.
        for device in [&a, &dev("b")] {
            let err = reg.redeem(&tok, device, "x", t(11)).unwrap_err();
            assert!(matches!(err, RedeemError::Used), "{err}");
            assert_eq!(err.to_string(), "加入令牌已使用 / this join token was already used");
        }
        assert_eq!(reg.node("main-pi-1").unwrap().unwrap(), node);
        assert_eq!(reg.nodes().unwrap(), [node]);
    }

    #[test]
    fn unknown_and_expired_tokens_are_refused_and_not_burned() {
        let (_dir, reg) = open();
        let err = reg.redeem(&new_token(), &dev("a"), "", t(0)).unwrap_err();
        assert!(matches!(err, RedeemError::Unknown), "{err}");
        assert!(err.to_string().starts_with("加入令牌无效 / "), "{err}");

        let tok = token(&reg, "main-pi-1", false);
        let err = reg.redeem(&tok, &dev("a"), "", t(1000)).unwrap_err();
        assert!(matches!(err, RedeemError::Expired), "{err}");
        assert_eq!(err.to_string(), "加入令牌已过期 / this join token has expired");
        assert_eq!(reg.tokens().unwrap()[0].used, None);
        assert_eq!(reg.nodes().unwrap(), []);
        // A second before expiry it still works; typed in capitals, too.
        let got = reg.redeem(&tok.to_uppercase(), &dev("a"), "", t(999)).unwrap();
        assert_eq!(got.outcome, Outcome::Approved);
    }

    #[test]
    fn a_token_that_requires_approval_waits_until_approved() {
        let (_dir, reg) = open();
        let tok = token(&reg, "main-pi-1", true);
        let a = dev("a");
        assert_eq!(reg.redeem(&tok, &a, "serial-1", t(10)).unwrap().outcome, Outcome::Pending);
        let node = reg.node("main-pi-1").unwrap().unwrap();
        assert_eq!(node.status, NodeStatus::Pending);
        assert_eq!(node.pending_device.as_deref(), Some(a.as_str()));
        assert_eq!(reg.pending_for_device(&a).unwrap().unwrap().node, "main-pi-1");
        assert_eq!(reg.pending().unwrap().len(), 1);
        let err = reg.set_certificate("main-pi-1", &a, t(100)).unwrap_err();
        assert!(matches!(err, ProvisionError::NotApproved(_)), "{err}");

        let approved = reg.approve("main-pi-1", t(20)).unwrap();
        assert_eq!((approved.status, approved.device_id.as_str()), (NodeStatus::Active, a.as_str()));
        assert_eq!(approved.pending_device, None);
        assert_eq!(approved, reg.node("main-pi-1").unwrap().unwrap());
        assert_eq!(reg.pending_for_device(&a).unwrap(), None);
        assert_eq!(reg.node_for_device(&a).unwrap().unwrap().node, "main-pi-1");
        reg.set_certificate("main-pi-1", &a, t(100)).unwrap();
        assert_eq!(reg.node("main-pi-1").unwrap().unwrap().cert_not_after, Some(t(100)));
        let err = reg.approve("main-pi-1", t(30)).unwrap_err();
        assert!(matches!(err, ProvisionError::NothingPending(_)), "{err}");
    }

    #[test]
    fn a_reflashed_card_waits_and_the_old_node_is_untouched_until_approval() {
        let (_dir, reg) = open();
        let (old, new) = (dev("old card"), dev("new card"));
        enrolled(&reg, "main-pi-1", &old);
        reg.report(
            "main-pi-1",
            &NodeReport { version: Some("1.0.0".into()), ..NodeReport::default() },
            t(50),
        )
        .unwrap();
        let before = reg.node("main-pi-1").unwrap().unwrap();

        // A token that needs no approval still does not replace a known node's device.
        let tok = token(&reg, "main-pi-1", false);
        let got = reg.redeem(&tok, &new, "serial-1", t(60)).unwrap();
        assert_eq!(got.outcome, Outcome::Pending);
        let during = reg.node("main-pi-1").unwrap().unwrap();
        assert_eq!(
            NodeRecord {
                pending_device: None,
                pending_hardware: None,
                pending_since: None,
                ..during.clone()
            },
            before,
            "only the pending claim was added"
        );
        assert_eq!(during.pending_device.as_deref(), Some(new.as_str()));
        assert_eq!(during.pending_since, Some(t(60)));
        assert_eq!(reg.pending_for_device(&new).unwrap().unwrap().node, "main-pi-1");
        assert_eq!(reg.node_for_device(&old).unwrap().unwrap().status, NodeStatus::Active);
        assert_eq!(reg.node_for_device(&new).unwrap(), None);
        let err = reg.set_certificate("main-pi-1", &new, t(100)).unwrap_err();
        assert!(matches!(err, ProvisionError::WrongDevice { .. }), "{err}");

        let after = reg.approve("main-pi-1", t(70)).unwrap();
        assert_eq!((after.status, after.device_id.as_str()), (NodeStatus::Active, new.as_str()));
        assert_eq!((after.enrolled, after.cert_not_after), (t(70), None));
        assert_eq!(after.version.as_deref(), Some("1.0.0"), "the inventory carries over");
        assert_eq!(reg.node_for_device(&old).unwrap(), None);
        assert_eq!(reg.node_for_device(&new).unwrap().unwrap().node, "main-pi-1");
        reg.set_certificate("main-pi-1", &new, t(100)).unwrap();
    }

    #[test]
    fn the_same_device_reenrols_and_a_rejected_claim_goes() {
        let (_dir, reg) = open();
        let a = dev("a");
        enrolled(&reg, "main-pi-1", &a);
        let tok = token(&reg, "main-pi-1", false);
        assert_eq!(reg.redeem(&tok, &a, "serial-2", t(20)).unwrap().outcome, Outcome::Approved);
        assert_eq!(reg.node("main-pi-1").unwrap().unwrap().hardware, "serial-2");

        let tok = token(&reg, "main-pi-1", false);
        assert_eq!(reg.redeem(&tok, &dev("intruder"), "", t(30)).unwrap().outcome, Outcome::Pending);
        reg.reject("main-pi-1").unwrap();
        let node = reg.node("main-pi-1").unwrap().unwrap();
        assert_eq!((node.device_id.as_str(), node.pending_device), (a.as_str(), None));

        // A node never approved is forgotten when rejected.
        let tok = token(&reg, "main-pi-2", true);
        reg.redeem(&tok, &dev("b"), "", t(40)).unwrap();
        reg.reject("main-pi-2").unwrap();
        assert_eq!(reg.node("main-pi-2").unwrap(), None);
    }

    #[test]
    fn a_device_is_one_node_and_a_name_is_one_halls() {
        let (_dir, reg) = open();
        let a = dev("a");
        enrolled(&reg, "main-pi-1", &a);
        let tok = token(&reg, "main-pi-2", false);
        let err = reg.redeem(&tok, &a, "", t(20)).unwrap_err();
        assert!(matches!(&err, RedeemError::DeviceTaken(n) if n == "main-pi-1"), "{err}");
        assert_eq!(reg.tokens().unwrap().iter().filter(|t| t.used.is_some()).count(), 1, "not burned");

        let err = reg.add_token(&token_hash(&new_token()), &HallId::new("east"), "main-pi-1", t(1000), false);
        assert!(matches!(err, Err(ProvisionError::NodeInOtherHall { .. })), "{err:?}");
    }

    #[test]
    fn add_token_takes_only_a_hash_and_valid_names() {
        let (_dir, reg) = open();
        let raw = new_token();
        let err = reg.add_token(&raw, &main_hall(), "main-pi-1", t(1000), false).unwrap_err();
        assert!(err.to_string().contains("never the token"), "{err}");
        let hash = token_hash(&raw);
        for (hall, node) in [("Main", "pi"), ("main", "Pi"), ("main", ""), ("main", "a:b")] {
            assert!(reg.add_token(&hash, &HallId::new(hall), node, t(1000), false).is_err(), "{hall}:{node}");
        }
        reg.add_token(&hash, &main_hall(), "main-pi-1", t(1000), false).unwrap();
        let err = reg.add_token(&hash, &main_hall(), "main-pi-1", t(1000), false).unwrap_err();
        assert!(matches!(err, ProvisionError::DuplicateToken), "{err}");
    }

    #[test]
    fn a_revoked_node_is_listed_and_never_comes_back() {
        let (_dir, reg) = open();
        let a = dev("a");
        enrolled(&reg, "main-pi-1", &a);
        enrolled(&reg, "main-pi-2", &dev("b"));
        let waiting = token(&reg, "main-pi-1", false);
        assert_eq!(reg.revoked().unwrap(), Vec::<String>::new());

        reg.revoke("main-pi-1", t(100)).unwrap();
        reg.revoke("main-pi-1", t(200)).unwrap();
        assert_eq!(reg.revoked().unwrap(), ["main-pi-1"]);
        let node = reg.node("main-pi-1").unwrap().unwrap();
        assert_eq!((node.status, node.revoked_at), (NodeStatus::Revoked, Some(t(100))));
        assert_eq!(reg.node_for_device(&a).unwrap().unwrap().status, NodeStatus::Revoked);

        let err = reg.redeem(&waiting, &dev("c"), "", t(300)).unwrap_err();
        assert!(matches!(err, RedeemError::Revoked(_)), "{err}");
        let err =
            reg.add_token(&token_hash(&new_token()), &main_hall(), "main-pi-1", t(1000), false).unwrap_err();
        assert!(matches!(err, ProvisionError::NodeRevoked(_)), "{err}");
        assert!(matches!(reg.approve("main-pi-1", t(300)), Err(ProvisionError::NodeRevoked(_))));
        assert!(matches!(reg.set_certificate("main-pi-1", &a, t(900)), Err(ProvisionError::NodeRevoked(_))));
        assert!(matches!(reg.revoke("nobody", t(300)), Err(ProvisionError::UnknownNode(_))));
        assert_eq!(reg.node("main-pi-2").unwrap().unwrap().status, NodeStatus::Active);
    }

    #[test]
    fn reports_update_the_inventory() {
        let (_dir, reg) = open();
        enrolled(&reg, "main-pi-1", &dev("a"));
        let full = NodeReport {
            version: Some("1.2.0".into()),
            sync_lag_s: Some(3),
            clock_offset_ms: Some(-120),
            printer: Some("ok".into()),
            disk_free_mb: Some(20_480),
        };
        reg.report("main-pi-1", &full, t(100)).unwrap();
        let node = reg.node("main-pi-1").unwrap().unwrap();
        assert_eq!(node.version.as_deref(), Some("1.2.0"));
        assert_eq!(
            (node.sync_lag_s, node.clock_offset_ms, node.disk_free_mb),
            (Some(3), Some(-120), Some(20_480))
        );
        assert_eq!((node.printer.as_deref(), node.last_seen), (Some("ok"), Some(t(100))));

        // A partial report changes what it says and keeps the rest.
        let partial =
            NodeReport { printer: Some("paper out".into()), sync_lag_s: Some(0), ..NodeReport::default() };
        reg.report("main-pi-1", &partial, t(160)).unwrap();
        let node = reg.node("main-pi-1").unwrap().unwrap();
        assert_eq!((node.printer.as_deref(), node.sync_lag_s), (Some("paper out"), Some(0)));
        assert_eq!((node.version.as_deref(), node.disk_free_mb), (Some("1.2.0"), Some(20_480)));
        assert_eq!(node.last_seen, Some(t(160)));

        let err = reg.report("nobody", &full, t(200)).unwrap_err();
        assert!(matches!(err, ProvisionError::UnknownNode(_)), "{err}");
    }

    #[test]
    fn the_registry_is_wal_and_survives_reopening() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("provision.sqlite");
        {
            let reg = Registry::open(&path).unwrap();
            enrolled(&reg, "main-pi-1", &dev("a"));
            let mode: String = reg.conn.pragma_query_value(None, "journal_mode", |r| r.get(0)).unwrap();
            assert_eq!(mode, "wal");
        }
        let reg = Registry::open(&path).unwrap();
        assert_eq!(reg.nodes().unwrap().len(), 1);
        assert_eq!(reg.node("main-pi-1").unwrap().unwrap().cert_not_after, Some(t(90 * 86_400)));
        reg.conn.pragma_update(None, "user_version", 99).unwrap();
        drop(reg);
        assert!(matches!(Registry::open(&path), Err(ProvisionError::NewerSchema { found: 99, .. })));
    }
}
