//! What the engine needs to know about its hall, cut from the catalogue.

use onestop_model::{CaseKind, Catalog, HallId, QueueRules, ServiceId, StaffId, WindowNo};
use std::collections::{BTreeMap, BTreeSet};

/// A service as the engine sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceInfo {
    pub prefix: char,
    pub kind: CaseKind,
    pub expected_minutes: u32,
}

/// The hall's configuration: services, windows with their weighted services, rules, staff.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HallConfig {
    pub hall: HallId,
    pub utc_offset_minutes: i32,
    pub rules: QueueRules,
    pub services: BTreeMap<ServiceId, ServiceInfo>,
    /// Window number → served services and their weights.
    pub windows: BTreeMap<WindowNo, BTreeMap<ServiceId, u32>>,
    /// Staff who may check in at this hall's windows.
    pub staff: BTreeSet<StaffId>,
}

/// The catalogue cannot configure this hall.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    #[error("目录中没有服务厅 {0} / the catalogue has no hall '{0}'")]
    UnknownHall(HallId),
    #[error("目录有误 / the catalogue is inconsistent: {0}")]
    Catalog(#[from] onestop_model::CatalogError),
}

impl HallConfig {
    /// The configuration of `hall`: only the services its windows serve are offered.
    pub fn from_catalog(catalog: &Catalog, hall: &HallId) -> Result<HallConfig, ConfigError> {
        catalog.validate()?;
        let h = catalog.halls.get(hall).ok_or_else(|| ConfigError::UnknownHall(hall.clone()))?;
        let mut services = BTreeMap::new();
        let mut windows = BTreeMap::new();
        for w in &h.windows {
            let mut served = BTreeMap::new();
            for ws in &w.services {
                let s = &catalog.services[&ws.service];
                services.insert(
                    s.id.clone(),
                    ServiceInfo { prefix: s.prefix, kind: s.kind, expected_minutes: s.expected_minutes },
                );
                served.insert(ws.service.clone(), ws.weight);
            }
            windows.insert(w.number, served);
        }
        let staff = catalog
            .staff
            .values()
            .filter(|s| s.halls.is_empty() || s.halls.contains(hall))
            .map(|s| s.id.clone())
            .collect();
        Ok(HallConfig {
            hall: hall.clone(),
            utc_offset_minutes: h.utc_offset_minutes,
            rules: h.rules.clone(),
            services,
            windows,
            staff,
        })
    }

    /// The weight of `service` at `window`, if the window serves it.
    pub fn weight(&self, window: WindowNo, service: &ServiceId) -> Option<u32> {
        self.windows.get(&window).and_then(|s| s.get(service)).copied()
    }
}
