//! What a hall's pages show: a snapshot of the engine and the catalogue. The hall's core makes
//! one after each batch of commands and shares it read-only with every page and display; the
//! cloud makes the same from the day document it receives, so the website shows exactly what
//! the hall shows.
//!
//! Pure, as the rest of the engine: the time is a parameter.

use crate::{Engine, Status};
use onestop_model::{Catalog, DayEvent, HallId, Text, TicketNo, Timestamp, WindowNo, stats};
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

/// The day's figures, by the statistics' definitions ([`onestop_model::stats`]): wait = first
/// call − issue, satisfaction = (非常满意 + 满意) / rated.
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
        // The definitions are the statistics' own (onestop_model::stats), so the hall and the
        // campus statistics agree.
        let mut f = Figures::default();
        let mut totals = stats::Totals::default();
        for t in engine.tickets() {
            f.issued += 1;
            match t.status {
                Status::Waiting => f.waiting += 1,
                Status::Done => f.served += 1,
                Status::NoShow => f.no_shows += 1,
                _ => {}
            }
            if let Some(w) = stats::wait_ms(t.issued_at, t.first_called_at) {
                totals.called += 1;
                totals.wait_sum_ms += w;
            }
            if let Some(r) = &t.rating {
                totals.rated += 1;
                totals.levels[usize::from(r.level.score()) - 1] += 1;
            }
        }
        f.rated = totals.rated as usize;
        f.satisfaction_pct = totals.satisfaction_pct().map(|p| p.floor() as u32);
        f.mean_wait_min = totals.mean_wait_min().map(|m| m.floor() as u32);
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

/// The window's name in the catalogue (empty when the catalogue does not name it).
fn window_name(catalog: &Catalog, hall: &HallId, window: WindowNo) -> Label {
    catalog
        .halls
        .get(hall)
        .and_then(|h| h.windows.iter().find(|w| w.number == window))
        .map(|w| Label::from(&w.name))
        .unwrap_or_default()
}

impl CallView {
    /// The call an event makes (a call or a recall), in the hall's local time.
    pub fn of(ev: &DayEvent, catalog: &Catalog, hall: &HallId, utc_offset_minutes: i32) -> Option<CallView> {
        let (ticket, window, at, repeat) = match ev {
            DayEvent::Called { ticket, window, at } => (ticket, *window, at, false),
            DayEvent::Recalled { ticket, window, at } => (ticket, *window, at, true),
            _ => return None,
        };
        Some(CallView {
            ticket: ticket.to_string(),
            window,
            window_name: window_name(catalog, hall, window),
            at: at.local_hm(utc_offset_minutes),
            repeat,
        })
    }

    /// The latest `keep` calls among a day's events, newest first.
    pub fn recent(
        events: &[DayEvent],
        catalog: &Catalog,
        hall: &HallId,
        utc_offset_minutes: i32,
        keep: usize,
    ) -> Vec<CallView> {
        events
            .iter()
            .rev()
            .filter_map(|e| CallView::of(e, catalog, hall, utc_offset_minutes))
            .take(keep)
            .collect()
    }
}

/// Where one ticket is, as its visitor follows it (the website's ticket page).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TicketView {
    pub ticket: String,
    pub service: String,
    pub service_name: Label,
    /// "waiting", "called", "serving", "done" or "no_show".
    pub state: &'static str,
    /// The window that called or serves it (or finished it).
    pub window: Option<WindowNo>,
    pub window_name: Label,
    /// While waiting: people called before it (its place is `ahead + 1`).
    pub ahead: Option<u32>,
    /// While waiting: the estimated wait in minutes.
    pub wait_min: Option<u32>,
    /// When it was issued and called, "HH:MM" in the hall's time.
    pub issued_at: String,
    pub called_at: Option<String>,
    /// Its case number, once finished.
    pub case: Option<String>,
}

impl TicketView {
    /// Every ticket of `engine`'s day at `now`, in issue order: the positions are computed once
    /// for all waiting tickets.
    pub fn all(engine: &Engine, catalog: &Catalog, hall: &HallId, now: Timestamp) -> Vec<TicketView> {
        let positions = engine.positions(now);
        let offset = engine.config().utc_offset_minutes;
        let mut finished_at: std::collections::HashMap<TicketNo, WindowNo> = std::collections::HashMap::new();
        for (no, w) in engine.windows() {
            if let Some(i) = w.to_rate {
                finished_at.insert(engine.tickets()[i].no, *no);
            }
        }
        engine
            .tickets()
            .iter()
            .map(|t| {
                let (state, window) = match t.status {
                    Status::Waiting => ("waiting", None),
                    Status::Called { window } => ("called", Some(window)),
                    Status::Serving { window } => ("serving", Some(window)),
                    Status::Done => ("done", finished_at.get(&t.no).copied()),
                    Status::NoShow => ("no_show", None),
                };
                let position = positions.get(&t.no);
                TicketView {
                    ticket: t.no.to_string(),
                    service: t.service.to_string(),
                    service_name: catalog
                        .services
                        .get(&t.service)
                        .map(|s| Label::from(&s.name))
                        .unwrap_or_default(),
                    state,
                    window,
                    window_name: window.map(|w| window_name(catalog, hall, w)).unwrap_or_default(),
                    ahead: position.map(|p| p.ahead),
                    wait_min: position.map(|p| p.wait_min),
                    issued_at: t.issued_at.local_hm(offset),
                    called_at: t.called_at.map(|c| c.local_hm(offset)),
                    case: t.case.as_ref().map(|c| c.to_string()),
                }
            })
            .collect()
    }
}
