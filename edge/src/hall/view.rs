//! What the hall's pages show: a snapshot of the engine and the catalogue, made by the hall's
//! core after each batch of commands and shared read-only with every page and display.

use onestop_engine::{Engine, Status};
use onestop_model::{Catalog, HallId, Level, Text, Timestamp, WindowNo};
use serde::Serialize;

/// Bilingual text as the pages receive it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Default)]
pub struct Label {
    pub zh: String,
    pub en: String,
}

impl From<&Text> for Label {
    fn from(t: &Text) -> Label {
        Label { zh: t.zh.clone(), en: t.en.clone() }
    }
}

/// One window as the display and the counter show it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct WindowView {
    pub no: WindowNo,
    pub name: Label,
    /// The staff member's name, while checked in.
    pub staff: Option<String>,
    pub staff_id: Option<String>,
    pub paused: Option<String>,
    /// The ticket called or served here.
    pub current: Option<String>,
    /// "called" or "serving".
    pub state: Option<&'static str>,
    /// The ticket that may be rated here, once finished.
    pub to_rate: Option<String>,
    /// The services this window serves (ids).
    pub services: Vec<String>,
    /// The waiting tickets this window may call, in issue order (at most 30).
    pub queue: Vec<String>,
    /// The ticket "call next" would call now.
    pub next: Option<String>,
}

/// One service's queue.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ServiceView {
    pub id: String,
    pub name: Label,
    pub department: Label,
    pub prefix: char,
    pub waiting: usize,
    /// Estimated wait for a ticket taken now, in minutes.
    pub wait_min: u32,
    /// Whether an open window serves it now.
    pub open: bool,
}

/// A call shown on the display.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CallView {
    pub ticket: String,
    pub window: WindowNo,
    pub window_name: Label,
    pub at: String,
    pub repeat: bool,
}

/// The day's figures (the definitions are the statistics' own: wait = called − issued).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Default)]
pub struct Figures {
    pub issued: usize,
    pub waiting: usize,
    pub served: usize,
    pub no_shows: usize,
    pub rated: usize,
    /// (非常满意 + 满意) / rated, in percent.
    pub satisfaction_pct: Option<u32>,
    pub mean_wait_min: Option<u32>,
    pub windows_open: usize,
}

/// A device or link problem the staff should see.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Incident {
    pub device: String,
    pub text: String,
}

/// Everything the hall's pages show, at one moment.
#[derive(Debug, Clone, PartialEq, Serialize, Default)]
pub struct HallView {
    /// Increases with every new view.
    pub version: u64,
    pub hall: String,
    pub hall_name: Label,
    pub day: String,
    pub windows: Vec<WindowView>,
    pub services: Vec<ServiceView>,
    /// The latest calls, newest first.
    pub calls: Vec<CallView>,
    pub notices: Vec<(Label, Label)>,
    pub figures: Figures,
    pub incidents: Vec<Incident>,
    /// Whether the link to the cloud is up (None: this hall has no cloud configured).
    pub online: Option<bool>,
    pub clock_alarm: Option<String>,
}

const QUEUE_SHOWN: usize = 30;

impl HallView {
    /// The view of `engine`'s day; `calls` are kept by the caller (newest first).
    pub fn build(engine: &Engine, catalog: &Catalog, hall: &HallId, now: Timestamp) -> HallView {
        let config = engine.config();
        let offset = config.utc_offset_minutes;
        let hall_cat = catalog.halls.get(hall);
        let name_of = |s: &onestop_model::StaffId| catalog.staff.get(s).map(|p| p.name.clone());
        let ticket_no = |i: usize| engine.tickets()[i].no.to_string();
        let mut windows = Vec::new();
        for (no, state) in engine.windows() {
            let cat = hall_cat.and_then(|h| h.windows.iter().find(|w| w.number == *no));
            let services: Vec<String> =
                cat.map(|w| w.services.iter().map(|s| s.service.to_string()).collect()).unwrap_or_default();
            let queue = engine
                .waiting()
                .filter(|t| match t.place.window {
                    Some(w) => w == *no,
                    None => config.weight(*no, &t.service).is_some(),
                })
                .take(QUEUE_SHOWN)
                .map(|t| t.no.to_string())
                .collect();
            let current = state.current.map(|i| &engine.tickets()[i]);
            windows.push(WindowView {
                no: *no,
                name: cat.map(|w| Label::from(&w.name)).unwrap_or_default(),
                staff: state.staff.as_ref().and_then(name_of),
                staff_id: state.staff.as_ref().map(|s| s.to_string()),
                paused: state.paused.clone(),
                current: current.map(|t| t.no.to_string()),
                state: current.map(|t| match t.status {
                    Status::Serving { .. } => "serving",
                    _ => "called",
                }),
                to_rate: state.to_rate.map(ticket_no),
                services,
                queue,
                next: if state.staff.is_some() && state.paused.is_none() {
                    engine.peek_next(*no, now).map(|t| t.no.to_string())
                } else {
                    None
                },
            });
        }
        let mut services = Vec::new();
        for (id, info) in &config.services {
            let Some(s) = catalog.services.get(id) else { continue };
            let waiting = engine.waiting().filter(|t| &t.service == id).count();
            let open = engine
                .windows()
                .iter()
                .any(|(no, w)| w.staff.is_some() && w.paused.is_none() && config.weight(*no, id).is_some());
            let per = engine.mean_handling_ms(id).unwrap_or(i64::from(info.expected_minutes) * 60_000);
            let serving = engine
                .windows()
                .iter()
                .filter(|(no, w)| w.staff.is_some() && config.weight(**no, id).is_some())
                .count()
                .max(1);
            let wait_min = ((waiting as i64 * per) / serving as i64 / 60_000) as u32;
            services.push(ServiceView {
                id: id.to_string(),
                name: Label::from(&s.name),
                department: catalog
                    .departments
                    .get(&s.department)
                    .map(|d| Label::from(&d.name))
                    .unwrap_or_default(),
                prefix: s.prefix,
                waiting,
                wait_min,
                open,
            });
        }
        let mut f = Figures::default();
        let (mut wait_sum, mut waited, mut happy) = (0i64, 0i64, 0usize);
        for t in engine.tickets() {
            f.issued += 1;
            match t.status {
                Status::Waiting => f.waiting += 1,
                Status::Done => f.served += 1,
                Status::NoShow => f.no_shows += 1,
                _ => {}
            }
            if let Some(c) = t.called_at {
                wait_sum += c.0 - t.issued_at.0;
                waited += 1;
            }
            if let Some(r) = &t.rating {
                f.rated += 1;
                if matches!(r.level, Level::Satisfied | Level::VerySatisfied) {
                    happy += 1;
                }
            }
        }
        f.satisfaction_pct = (f.rated > 0).then(|| (happy * 100 / f.rated) as u32);
        f.mean_wait_min = (waited > 0).then(|| (wait_sum / waited / 60_000) as u32);
        f.windows_open = engine.windows().values().filter(|w| w.staff.is_some()).count();
        let notices = catalog
            .notices
            .values()
            .filter(|n| n.halls.is_empty() || n.halls.contains(hall))
            .map(|n| (Label::from(&n.title), Label::from(&n.body)))
            .collect();
        let _ = offset;
        HallView {
            version: 0,
            hall: hall.to_string(),
            hall_name: hall_cat.map(|h| Label::from(&h.name)).unwrap_or_default(),
            day: engine.day().to_string(),
            windows,
            services,
            calls: Vec::new(),
            notices,
            figures: f,
            incidents: Vec::new(),
            online: None,
            clock_alarm: None,
        }
    }

    pub fn window(&self, no: WindowNo) -> Option<&WindowView> {
        self.windows.iter().find(|w| w.no == no)
    }
}
