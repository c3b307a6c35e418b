//! The cloud's enrolment desk: join tokens are redeemed against the provisioning registry,
//! certificate requests signed by the campus CA, renewals recognised by the device's key.

use onestop_link::NodeIdentity;
use onestop_link::enroll::{EnrollReply, EnrollRequest, Enroller};
use onestop_provision::registry::{NodeStatus, Outcome, Redeemed, Registry};
use onestop_provision::{CampusCa, DeviceId};
use std::sync::Mutex;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Enrols and renews nodes.
pub struct Desk {
    pub ca: CampusCa,
    pub registry: Mutex<Registry>,
    /// The campus visitor key (hex), given to every enrolled node.
    pub visitor_key: String,
    /// How long a node certificate lives (renewed at about two thirds).
    pub lifetime: Duration,
    /// The cloud's clock: certificates' validity and the inventory's times.
    pub clock: std::sync::Arc<dyn onestop_model::clock::Clock>,
}

fn refused(reason: impl Into<String>) -> EnrollReply {
    EnrollReply::Refused { reason: reason.into() }
}

impl Desk {
    /// The time now, by the cloud's clock, as the registry and the CA take it.
    fn now(&self) -> SystemTime {
        self.clock.now().to_system_time()
    }

    fn issue(
        &self,
        registry: &Registry,
        hall: &onestop_model::HallId,
        node: &str,
        req: &EnrollRequest,
        device: &DeviceId,
    ) -> EnrollReply {
        let identity = NodeIdentity { node: node.to_string(), hall: hall.clone() };
        let now = self.now();
        let signed = match self.ca.sign_node_csr(&req.csr_pem, &identity, self.lifetime, now) {
            Ok(s) => s,
            Err(e) => return refused(e.to_string()),
        };
        if let Err(e) = registry.set_certificate(node, device, signed.not_after) {
            return refused(e.to_string());
        }
        tracing::info!(message = "Certificate issued.", %node, %hall, device = %device);
        EnrollReply::Issued {
            cert_pem: signed.cert_pem,
            hall: hall.to_string(),
            node: node.to_string(),
            device_id: device.to_string(),
            not_after: signed.not_after.duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0),
            visitor_key: self.visitor_key.clone(),
        }
    }
}

impl Enroller for Desk {
    fn seen(&self, node: &NodeIdentity) {
        let registry = self.registry.lock().unwrap_or_else(|e| e.into_inner());
        let report = onestop_provision::registry::NodeReport::default();
        if let Err(error) = registry.report(&node.node, &report, self.now()) {
            tracing::debug!(message = "No inventory record for a connected node.", node = %node.node, %error);
        }
    }

    fn incident(&self, node: &str, what: &str) {
        let registry = self.registry.lock().unwrap_or_else(|e| e.into_inner());
        if let Err(error) = registry.incident(node, what, self.now()) {
            tracing::warn!(message = "An incident could not be recorded in the inventory.", node, %error);
        }
    }

    fn enroll(&self, req: EnrollRequest, peer: Option<NodeIdentity>) -> EnrollReply {
        if req.csr_pem.is_empty() {
            let (Some(report), Some(peer)) = (&req.report, &peer) else {
                return refused("报告须经已认证的连接 / a report must come over the authenticated link");
            };
            let registry = self.registry.lock().unwrap_or_else(|e| e.into_inner());
            let r = onestop_provision::registry::NodeReport {
                version: report.version.clone(),
                sync_lag_s: report.sync_lag_s,
                clock_offset_ms: report.clock_offset_ms,
                printer: report.printer.clone(),
                disk_free_mb: report.disk_free_mb,
            };
            return match registry.report(&peer.node, &r, self.now()) {
                Ok(()) => EnrollReply::Noted,
                Err(e) => refused(e.to_string()),
            };
        }
        let device = match DeviceId::of_csr(&req.csr_pem) {
            Ok(d) => d,
            Err(e) => return refused(e.to_string()),
        };
        let registry = self.registry.lock().unwrap_or_else(|e| e.into_inner());
        let now = self.now();
        if let Some(token) = &req.token {
            return match registry.redeem(token, &device, &req.hardware, now) {
                Ok(Redeemed { hall, node, outcome: Outcome::Approved }) => {
                    self.issue(&registry, &hall, &node, &req, &device)
                }
                Ok(Redeemed { hall, node, outcome: Outcome::Pending }) => {
                    tracing::warn!(message = "A node waits for approval.", %node, %hall, device = %device);
                    EnrollReply::Pending { device_id: device.to_string(), node, hall: hall.to_string() }
                }
                Err(e) => {
                    tracing::warn!(message = "A join token was refused.", device = %device, error = %e);
                    refused(e.to_string())
                }
            };
        }
        // No token: a renewal (the device's key proves who it is), or a poll while pending.
        match registry.node_for_device(&device) {
            Ok(Some(n)) if n.status == NodeStatus::Active => {
                if let Some(p) = &peer
                    && p.node != n.node
                {
                    return refused(format!(
                        "this connection's certificate names {}, not {}",
                        p.node, n.node
                    ));
                }
                return self.issue(&registry, &n.hall, &n.node, &req, &device);
            }
            Ok(Some(n)) if n.status == NodeStatus::Revoked => {
                return refused(format!("节点 {} 已被吊销 / node {} is revoked", n.node, n.node));
            }
            Ok(_) => {}
            Err(e) => return refused(e.to_string()),
        }
        match registry.pending_for_device(&device) {
            Ok(Some(n)) => {
                EnrollReply::Pending { device_id: device.to_string(), node: n.node, hall: n.hall.to_string() }
            }
            Ok(None) => refused(format!(
                "未知设备 {device}，请使用加入令牌 / unknown device {device}: enrol it with a join token"
            )),
            Err(e) => refused(e.to_string()),
        }
    }
}
