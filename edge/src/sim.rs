//! A simulated busy day: visitors arrive, windows call, serve, transfer and finish, visitors
//! rate. Used by the benchmark, the demo and the tests. Deterministic for a seed.
//!
//! The mix follows the brief for a busy hall: about 5% of calls are recalled, 2% become
//! no-shows, 3% are transferred, 90% of finished cases are rated and 40% are pending.

use onestop_engine::{Command, Rejected};
use onestop_model::{
    CaseKind, Catalog, DayEvent, Department, DepartmentId, Hall, HallId, Level, PersonKind, Placement,
    Priority, QueueRules, Rating, Service, ServiceId, Source, Staff, StaffId, Text, Timestamp,
    TransferTarget, Visitor, VisitorId, Window, WindowNo, WindowService,
};
use std::cmp::Reverse;
use std::collections::{BTreeMap, BinaryHeap};

/// SplitMix64: small, fast and good enough to shape a simulated day.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    /// Uniform in [0, 1).
    pub fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n.max(1)
    }
    /// Exponentially distributed with the given mean.
    pub fn exp_ms(&mut self, mean_ms: f64) -> i64 {
        (-mean_ms * (1.0 - self.unit()).ln()) as i64
    }
}

/// A campus catalogue for one hall of `windows` windows: 15 departments, 30 services.
pub fn campus_catalog(hall: &HallId, windows: u16) -> Catalog {
    const DEPTS: [(&str, &str, &str); 15] = [
        ("registry", "教务处", "Registry"),
        ("grad", "研究生院", "Graduate School"),
        ("finance", "财务处", "Finance Office"),
        ("student", "学生工作部", "Student Affairs"),
        ("intl", "国际交流处", "International Office"),
        ("hr", "人事处", "Human Resources"),
        ("card", "校园卡中心", "Campus Card Centre"),
        ("housing", "后勤处", "Housing"),
        ("library", "图书馆", "Library"),
        ("it", "信息中心", "IT Services"),
        ("security", "保卫处", "Campus Security"),
        ("archives", "档案馆", "Archives"),
        ("research", "科研处", "Research Office"),
        ("assets", "资产处", "Assets Office"),
        ("health", "校医院", "Health Centre"),
    ];
    let mut c = Catalog::default();
    for (id, zh, en) in DEPTS {
        c.departments
            .insert(DepartmentId::new(id), Department { id: DepartmentId::new(id), name: Text::new(zh, en) });
    }
    let mut prefixes = ('A'..='Z').collect::<Vec<_>>().into_iter();
    let mut services = Vec::new();
    for (d, (dept, zh, en)) in DEPTS.iter().enumerate() {
        for n in 0..2 {
            let id = ServiceId::new(format!("{dept}-{}", n + 1));
            let Some(prefix) = prefixes.next() else { break };
            let kind = if (d + n) % 5 < 2 { CaseKind::Pending } else { CaseKind::Immediate };
            c.services.insert(
                id.clone(),
                Service {
                    id: id.clone(),
                    department: DepartmentId::new(*dept),
                    name: Text::new(format!("{zh}业务{}", n + 1), format!("{en} service {}", n + 1)),
                    prefix,
                    kind,
                    guide: Text::new("请携带校园卡及相关材料。", "Bring your campus card and documents."),
                    expected_minutes: 4 + (d as u32 % 5),
                },
            );
            services.push(id);
        }
    }
    let windows = (1..=windows)
        .map(|w| {
            // Each window serves three neighbouring services, its own one weighted up.
            let k = services.len();
            let own = (usize::from(w) - 1) % k;
            Window {
                number: w,
                name: Text::new(format!("{w}号窗口"), format!("Window {w}")),
                services: vec![
                    WindowService { service: services[own].clone(), weight: 2 },
                    WindowService { service: services[(own + 1) % k].clone(), weight: 1 },
                    WindowService { service: services[(own + 7) % k].clone(), weight: 1 },
                ],
            }
        })
        .collect();
    c.halls.insert(
        hall.clone(),
        Hall {
            id: hall.clone(),
            name: Text::new("一站式服务大厅", "One-stop service hall"),
            address: Text::new("行政楼一层", "Administration Building, ground floor"),
            utc_offset_minutes: onestop_model::CHINA_UTC_OFFSET_MINUTES,
            windows,
            rules: QueueRules::default(),
            booking: onestop_model::BookingRules::default(),
        },
    );
    for i in 1..=u32::from(c.halls[hall].windows.len() as u16) + 4 {
        let id = StaffId::new(format!("s{i:03}"));
        c.staff.insert(
            id.clone(),
            Staff {
                id,
                name: format!("工作人员{i}"),
                department: DepartmentId::new(DEPTS[i as usize % 15].0),
                pin_hash: demo_pin_hash().to_string(),
                halls: vec![],
                card: Some(staff_card(i)),
            },
        );
    }
    c
}

/// The staff card of simulated staff member `i` (s001 has 90000001).
pub fn staff_card(i: u32) -> String {
    format!("9{i:07}")
}

/// The PIN every simulated staff member uses at a window.
pub const DEMO_PIN: &str = "2468";

/// The argon2 hash of [`DEMO_PIN`], made once per process (argon2 is slow on purpose).
fn demo_pin_hash() -> &'static str {
    static HASH: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    HASH.get_or_init(|| onestop_protocol::secrets::hash_pin(DEMO_PIN).expect("a valid PIN"))
}

/// The shape of a simulated day.
#[derive(Debug, Clone)]
pub struct DayPlan {
    pub tickets: usize,
    pub windows: u16,
    pub seed: u64,
    /// When the hall opens (windows check in; visitors start arriving).
    pub opens: Timestamp,
    /// Arrivals spread over this many hours.
    pub hours: f64,
    /// Stop the simulation at this time (visitors still waiting, windows busy).
    pub until: Option<Timestamp>,
}

/// What a simulated day did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DayStats {
    pub commands: u64,
    pub refused: u64,
    pub issued: u64,
    pub called: u64,
    pub recalled: u64,
    pub no_shows: u64,
    pub transferred: u64,
    pub finished: u64,
    pub pending: u64,
    pub rated: u64,
    pub end: Timestamp,
}

impl std::fmt::Display for DayStats {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} commands ({} refused as a hall would refuse them): {} issued, {} called, {} recalled, \
             {} no-shows, {} transferred, {} finished ({} pending), {} rated",
            self.commands,
            self.refused,
            self.issued,
            self.called,
            self.recalled,
            self.no_shows,
            self.transferred,
            self.finished,
            self.pending,
            self.rated
        )
    }
}

/// Runs one simulated command on a node at `at`, moving the node's clock there. The queue
/// rules' refusals are the simulation's to handle (its commands name no booking, so the
/// engine's are the only refusals there are); anything else, a store that cannot save or a
/// bug, ends the simulation (a panic): a simulated day has no one to tell.
pub fn on_node(
    node: &mut crate::Node,
    clock: &crate::ManualClock,
    cmd: &Command,
    at: Timestamp,
) -> Result<crate::Outcome, Rejected> {
    clock.set(at);
    node.execute(cmd).map_err(|e| match e {
        crate::NodeError::Rejected(r) => r,
        other => panic!("the simulated day cannot go on ({:?}): {other}", other.kind()),
    })
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Step {
    Arrive,
    Free(WindowNo),
    Recall(WindowNo),
    Start(WindowNo),
    Transfer(WindowNo),
    Finish(WindowNo),
    Rate(WindowNo),
    Close(WindowNo),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Fate {
    Normal,
    /// Recalled once, then comes.
    Late,
    /// Never comes: recalled until a no-show.
    Absent,
    Transfer,
}

/// Runs a day through `exec` (an engine, or a node with its durable store). `exec` receives
/// each command and the time it happens at and returns the events or the refusal.
pub fn run_day(
    plan: &DayPlan,
    catalog: &Catalog,
    hall: &HallId,
    mut exec: impl FnMut(&Command, Timestamp) -> Result<Vec<DayEvent>, Rejected>,
) -> DayStats {
    let mut rng = Rng::new(plan.seed);
    let h = &catalog.halls[hall];
    let windows: Vec<WindowNo> = h.windows.iter().map(|w| w.number).take(usize::from(plan.windows)).collect();
    let services: Vec<ServiceId> = {
        let mut s: Vec<ServiceId> = h
            .windows
            .iter()
            .filter(|w| windows.contains(&w.number))
            .flat_map(|w| w.services.iter().map(|ws| ws.service.clone()))
            .collect();
        s.sort();
        s.dedup();
        s
    };
    let max_recalls = h.rules.max_recalls;
    let staff: Vec<StaffId> = catalog.staff.keys().cloned().collect();
    let mut stats = DayStats::default();
    let mut agenda: BinaryHeap<Reverse<(Timestamp, u64, Step)>> = BinaryHeap::new();
    let mut seq = 0u64;
    let mut push = |agenda: &mut BinaryHeap<_>, at: Timestamp, step: Step| {
        seq += 1;
        agenda.push(Reverse((at, seq, step)));
    };
    let mut fate: BTreeMap<WindowNo, (Fate, u32)> = BTreeMap::new();
    let mut run = |cmd: Command, at: Timestamp, stats: &mut DayStats| -> Option<Vec<DayEvent>> {
        stats.commands += 1;
        match exec(&cmd, at) {
            Ok(events) => {
                for e in &events {
                    match e {
                        DayEvent::Issued { .. } => stats.issued += 1,
                        DayEvent::Called { .. } => stats.called += 1,
                        DayEvent::Recalled { .. } => stats.recalled += 1,
                        DayEvent::NoShow { .. } => stats.no_shows += 1,
                        DayEvent::Transferred { .. } => stats.transferred += 1,
                        DayEvent::Finished { kind, .. } => {
                            stats.finished += 1;
                            stats.pending += u64::from(*kind == CaseKind::Pending);
                        }
                        DayEvent::Rated { .. } => stats.rated += 1,
                        _ => {}
                    }
                }
                Some(events)
            }
            Err(_) => {
                stats.refused += 1;
                None
            }
        }
    };

    let opens = plan.opens;
    for (i, w) in windows.iter().enumerate() {
        run(Command::CheckIn { window: *w, staff: staff[i % staff.len()].clone() }, opens, &mut stats);
        push(&mut agenda, opens.plus_ms(1000 + i as i64), Step::Free(*w));
    }
    let mean_gap = plan.hours * 3_600_000.0 / plan.tickets.max(1) as f64;
    push(&mut agenda, opens.plus_ms(rng.exp_ms(mean_gap)), Step::Arrive);
    let mut arrivals = 0usize;
    let last_arrival_by = opens.plus_ms((plan.hours * 3_600_000.0) as i64);
    let mut closing = false;

    while let Some(Reverse((at, _, step))) = agenda.pop() {
        if plan.until.is_some_and(|u| at > u) {
            break;
        }
        stats.end = at;
        match step {
            Step::Arrive => {
                arrivals += 1;
                let service = services[rng.below(services.len() as u64) as usize].clone();
                let r = rng.unit();
                let source = if r < 0.7 {
                    let n = rng.below(20_000);
                    let kind =
                        [PersonKind::Undergraduate, PersonKind::Graduate, PersonKind::Staff][n as usize % 3];
                    Source::Card(Visitor {
                        id: VisitorId::new(format!("v{n:05}")),
                        kind,
                        college: ["计算机学院", "法学院", "医学院", "外国语学院", "机关"][n as usize % 5]
                            .into(),
                    })
                } else {
                    Source::Anonymous
                };
                let p = rng.unit();
                let priority = if p < 0.01 {
                    Priority::Green
                } else if p < 0.04 {
                    Priority::Care
                } else {
                    Priority::Normal
                };
                run(Command::Issue { service, source, priority }, at, &mut stats);
                if arrivals < plan.tickets {
                    push(&mut agenda, at.plus_ms(rng.exp_ms(mean_gap).max(1)), Step::Arrive);
                }
            }
            Step::Free(w) => match run(Command::CallNext { window: w }, at, &mut stats) {
                Some(_) => {
                    let r = rng.unit();
                    let f = if r < 0.02 {
                        Fate::Absent
                    } else if r < 0.05 {
                        Fate::Late
                    } else if r < 0.08 {
                        Fate::Transfer
                    } else {
                        Fate::Normal
                    };
                    fate.insert(w, (f, 0));
                    let next =
                        if matches!(f, Fate::Absent | Fate::Late) { Step::Recall(w) } else { Step::Start(w) };
                    push(&mut agenda, at.plus_ms(20_000 + rng.exp_ms(20_000.0)), next);
                }
                None => {
                    let queue_empty = arrivals >= plan.tickets;
                    if queue_empty && at > last_arrival_by {
                        closing = true;
                    }
                    if closing && queue_empty {
                        push(&mut agenda, at.plus_ms(60_000), Step::Close(w));
                    } else {
                        push(&mut agenda, at.plus_ms(15_000), Step::Free(w));
                    }
                }
            },
            Step::Recall(w) => {
                let (f, n) = fate[&w];
                run(Command::Recall { window: w }, at, &mut stats);
                if f == Fate::Absent && n < max_recalls {
                    fate.insert(w, (f, n + 1));
                    push(&mut agenda, at.plus_ms(30_000), Step::Recall(w));
                } else if f == Fate::Absent {
                    push(&mut agenda, at.plus_ms(5_000), Step::Free(w));
                } else {
                    push(&mut agenda, at.plus_ms(30_000), Step::Start(w));
                }
            }
            Step::Start(w) => {
                run(Command::Start { window: w }, at, &mut stats);
                // Busy: the windows are about 90% occupied on average.
                let mean =
                    f64::from(plan.windows) * plan.hours * 3_600_000.0 / plan.tickets.max(1) as f64 * 0.9;
                let handling = rng.exp_ms(mean).max(30_000);
                let next = if fate[&w].0 == Fate::Transfer { Step::Transfer(w) } else { Step::Finish(w) };
                push(&mut agenda, at.plus_ms(handling), next);
            }
            Step::Transfer(w) => {
                let to = services[rng.below(services.len() as u64) as usize].clone();
                let placement =
                    [Placement::Front, Placement::Back, Placement::Original][rng.below(3) as usize];
                if run(
                    Command::Transfer { window: w, to: TransferTarget::Service(to), placement },
                    at,
                    &mut stats,
                )
                .is_none()
                {
                    push(&mut agenda, at.plus_ms(1_000), Step::Finish(w));
                } else {
                    push(&mut agenda, at.plus_ms(10_000), Step::Free(w));
                }
            }
            Step::Finish(w) => {
                let kind = if rng.unit() < 0.4 { CaseKind::Pending } else { CaseKind::Immediate };
                run(Command::Finish { window: w, kind: Some(kind) }, at, &mut stats);
                if rng.unit() < 0.9 {
                    push(&mut agenda, at.plus_ms(8_000), Step::Rate(w));
                } else {
                    push(&mut agenda, at.plus_ms(10_000), Step::Free(w));
                }
            }
            Step::Rate(w) => {
                let r = rng.unit();
                let level = if r < 0.85 {
                    Level::VerySatisfied
                } else if r < 0.97 {
                    Level::Satisfied
                } else if r < 0.99 {
                    Level::Basic
                } else {
                    Level::Unsatisfied
                };
                run(Command::Rate { window: w, rating: Rating::overall(level) }, at, &mut stats);
                push(&mut agenda, at.plus_ms(2_000), Step::Free(w));
            }
            Step::Close(w) => {
                run(Command::CheckOut { window: w }, at, &mut stats);
            }
        }
    }
    stats
}
