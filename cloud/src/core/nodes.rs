//! The node inventory in the back office: the provisioning registry's nodes, and what IT
//! decides about them (approve a device waiting, reject it, revoke a node). The running cloud
//! reads revocations from the registry every second.

use super::accounts::{Account, Role};
use super::{Core, Error};
use onestop_provision::registry::NodeRecord;
use onestop_provision::{ProvisionError, Registry};

/// What IT does to a node.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NodeAction {
    Approve,
    Reject,
    Revoke,
}

impl NodeAction {
    pub fn parse(s: &str) -> Option<NodeAction> {
        Some(match s {
            "approve" => NodeAction::Approve,
            "reject" => NodeAction::Reject,
            "revoke" => NodeAction::Revoke,
            _ => return None,
        })
    }
}

impl From<ProvisionError> for Error {
    fn from(e: ProvisionError) -> Error {
        match e {
            ProvisionError::Store(e) => Error::Db(e),
            e @ (ProvisionError::Io { .. } | ProvisionError::NewerSchema { .. }) => {
                Error::Internal(e.to_string())
            }
            e @ ProvisionError::UnknownNode(_) => Error::Invalid(e.to_string()),
            e => Error::Conflict(e.to_string()),
        }
    }
}

fn registry(core: &Core) -> Result<Registry, Error> {
    let Some(path) = &core.registry else {
        return Err(Error::Invalid("此云端不办理节点注册 / this cloud does not enrol nodes".into()));
    };
    Ok(Registry::open(path)?)
}

/// A node of the inventory with what the cloud refused of it lately.
pub struct NodeView {
    pub record: NodeRecord,
    /// Newest first.
    pub incidents: Vec<(std::time::SystemTime, String)>,
}

/// The nodes of the halls `by` may see.
pub fn list(core: &Core, by: &Account) -> Result<Vec<NodeView>, Error> {
    let reg = registry(core)?;
    let mut out = Vec::new();
    for record in reg.nodes()?.into_iter().filter(|n| by.may_hall(&n.hall)) {
        let incidents = reg.incidents(&record.node)?;
        out.push(NodeView { record, incidents });
    }
    Ok(out)
}

/// Approves, rejects or revokes `node`, as `by` (administrators only: a node's identity is
/// IT's decision), at the core's time.
pub fn act(core: &Core, node: &str, action: NodeAction, by: &Account) -> Result<(), Error> {
    if by.role != Role::Admin {
        return Err(Error::Forbidden);
    }
    let reg = registry(core)?;
    let now = core.system_time();
    match action {
        NodeAction::Approve => reg.approve(node, now).map(|_| ())?,
        NodeAction::Reject => reg.reject(node)?,
        NodeAction::Revoke => reg.revoke(node, now)?,
    }
    tracing::warn!(message = "Node changed in the back office.", %node, ?action, by = %by.login);
    Ok(())
}
