//! Values the protocol's tests and the store's share: a hall, a day, one event of every kind,
//! a sample catalogue (the `fixtures` feature, for other crates' tests).

use crate::docid::DocId;
use onestop_model::*;

pub fn d() -> Day {
    Day::new(2026, 11, 26).unwrap()
}

pub fn hall() -> HallId {
    HallId::new("main")
}

pub fn day_id() -> DocId {
    DocId::Day { hall: hall(), day: d() }
}

pub fn at(m: i64) -> Timestamp {
    d().start(480).plus_minutes(8 * 60 + m)
}

pub fn visitor(id: &str) -> Visitor {
    Visitor { id: VisitorId::new(id), kind: PersonKind::Graduate, college: "外国语学院".into() }
}

/// One event of every kind, with every optional part used somewhere.
pub fn every_event() -> Vec<DayEvent> {
    let a = TicketNo::new('A', 1);
    let b = TicketNo::new('B', 12);
    vec![
        DayEvent::Issued {
            at: at(0),
            ticket: a,
            service: ServiceId::new("cert"),
            source: Source::Card(visitor("v1")),
            priority: Priority::Normal,
            ahead: 3,
            wait_estimate_min: 7,
        },
        DayEvent::Issued {
            at: at(1),
            ticket: b,
            service: ServiceId::new("visa"),
            source: Source::Booking {
                booking: BookingId::new("bk-7"),
                slot_start: at(30),
                slot_end: at(60),
                visitor: Some(visitor("v2")),
            },
            priority: Priority::Care,
            ahead: 0,
            wait_estimate_min: 0,
        },
        DayEvent::Issued {
            at: at(1),
            ticket: TicketNo::new('C', 1),
            service: ServiceId::new("fees"),
            source: Source::Anonymous,
            priority: Priority::Green,
            ahead: 0,
            wait_estimate_min: 0,
        },
        DayEvent::CheckedIn { at: at(2), window: 5, staff: StaffId::new("s1") },
        DayEvent::Paused { at: at(3), window: 5, reason: "系统维护".into() },
        DayEvent::Resumed { at: at(4), window: 5 },
        DayEvent::Called { at: at(5), ticket: a, window: 5 },
        DayEvent::Recalled { at: at(6), ticket: a, window: 5 },
        DayEvent::NoShow { at: at(7), ticket: a, window: 5 },
        DayEvent::Reactivated { at: at(8), ticket: a, placement: Placement::Back },
        DayEvent::Called { at: at(9), ticket: a, window: 5 },
        DayEvent::Transferred {
            at: at(10),
            ticket: a,
            window: 5,
            to: TransferTarget::Service(ServiceId::new("visa")),
            placement: Placement::Front,
        },
        DayEvent::Called { at: at(11), ticket: a, window: 5 },
        DayEvent::Transferred {
            at: at(12),
            ticket: a,
            window: 5,
            to: TransferTarget::Window(7),
            placement: Placement::Original,
        },
        DayEvent::CheckedIn { at: at(12), window: 7, staff: StaffId::new("s2") },
        DayEvent::Called { at: at(13), ticket: a, window: 7 },
        DayEvent::Started { at: at(14), ticket: a, window: 7 },
        DayEvent::Finished { at: at(20), ticket: a, window: 7, kind: CaseKind::Pending },
        DayEvent::Rated {
            at: at(21),
            ticket: a,
            window: 7,
            rating: Rating {
                level: Level::Basic,
                attitude: Some(Level::VerySatisfied),
                efficiency: None,
                quality: Some(Level::Unsatisfied),
            },
        },
        DayEvent::CheckedOut { at: at(30), window: 5 },
    ]
}

pub fn sample_catalog() -> Catalog {
    let mut c = Catalog::default();
    c.departments.insert(
        DepartmentId::new("registry"),
        Department { id: DepartmentId::new("registry"), name: Text::new("教务处", "Registry") },
    );
    for (id, prefix, kind) in [("cert", 'A', CaseKind::Immediate), ("visa", 'B', CaseKind::Pending)] {
        c.services.insert(
            ServiceId::new(id),
            Service {
                id: ServiceId::new(id),
                department: DepartmentId::new("registry"),
                name: Text::new(format!("{id} 服务"), id),
                prefix,
                kind,
                guide: Text::new("携带校园卡", "Bring your campus card"),
                expected_minutes: 6,
            },
        );
    }
    c.halls.insert(
        hall(),
        Hall {
            id: hall(),
            name: Text::new("主服务大厅", "Main hall"),
            address: Text::new("行政楼一层", ""),
            utc_offset_minutes: 480,
            windows: vec![
                Window {
                    number: 1,
                    name: Text::new("1号窗口", "Window 1"),
                    services: vec![
                        WindowService { service: ServiceId::new("cert"), weight: 2 },
                        WindowService { service: ServiceId::new("visa"), weight: 1 },
                    ],
                },
                Window {
                    number: 2,
                    name: Text::default(),
                    services: vec![WindowService { service: ServiceId::new("visa"), weight: 1 }],
                },
            ],
            rules: QueueRules { max_recalls: 3, ..QueueRules::default() },
            booking: onestop_model::BookingRules::default(),
        },
    );
    c.notices.insert(
        NoticeId::new("n1"),
        Notice {
            id: NoticeId::new("n1"),
            title: Text::new("元旦放假通知", "New Year closure"),
            body: Text::new("1月1日闭厅", "Closed on 1 January"),
            published: at(0),
            halls: vec![hall()],
        },
    );
    c.staff.insert(
        StaffId::new("s1"),
        Staff {
            id: StaffId::new("s1"),
            name: "王老师".into(),
            department: DepartmentId::new("registry"),
            pin_hash: "$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA".into(),
            halls: vec![],
            card: Some("20230001".into()),
        },
    );
    c
}

/// Appends `v` as unsigned LEB128.
pub fn leb(out: &mut Vec<u8>, mut v: u64) {
    loop {
        let b = (v & 0x7f) as u8;
        v >>= 7;
        if v == 0 {
            out.push(b);
            return;
        }
        out.push(b | 0x80);
    }
}

/// An Automerge chunk of `kind` around `data`, with its checksum.
pub fn chunk(kind: u8, data: &[u8]) -> Vec<u8> {
    use sha2::Digest;
    let mut body = vec![kind];
    leb(&mut body, data.len() as u64);
    body.extend_from_slice(data);
    let digest = sha2::Sha256::digest(&body);
    let mut out = vec![0x85, 0x6f, 0x4a, 0x83];
    out.extend_from_slice(&digest[..4]);
    out.extend_from_slice(&body);
    out
}

/// A V1 sync message with no heads, needs or haves, carrying `entries`.
pub fn sync_message_with(entries: &[Vec<u8>]) -> Vec<u8> {
    let mut m = vec![0x42, 0, 0, 0];
    leb(&mut m, entries.len() as u64);
    for e in entries {
        leb(&mut m, e.len() as u64);
        m.extend_from_slice(e);
    }
    m
}

/// A sync message well under a megabyte on the wire whose one document chunk has a column
/// that inflates to `mib` MiB of zeros: what a hostile node would send.
pub fn compression_bomb(mib: usize) -> Vec<u8> {
    use std::io::Write;
    let mut enc = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::best());
    let zeros = vec![0u8; 1 << 20];
    for _ in 0..mib {
        enc.write_all(&zeros).expect("deflate in memory");
    }
    let bomb = enc.finish().expect("deflate in memory");
    let mut data = vec![0, 0]; // no actors, no heads
    data.push(1); // one change column: the sequence column, deflated
    leb(&mut data, 0x03 | 0x08);
    leb(&mut data, bomb.len() as u64);
    data.push(0); // no operation columns
    data.extend_from_slice(&bomb);
    sync_message_with(&[chunk(0, &data)])
}

/// `saved` (a saved document) with its first head replaced by another hash and the checksum
/// made again: a header that reads well over a body that does not match it.
pub fn forged_whole_document(saved: &[u8]) -> (Vec<u8>, automerge::ChangeHash) {
    use sha2::Digest;
    let header = crate::wholedoc::read_header(saved).expect("a saved document");
    let forged_head = automerge::ChangeHash([0xAB; 32]);
    let at = saved.windows(32).position(|w| w == header.heads[0].0).expect("the head in the header");
    let mut forged = saved.to_vec();
    forged[at..at + 32].copy_from_slice(&forged_head.0);
    let digest = sha2::Sha256::digest(&forged[8..]);
    forged[4..8].copy_from_slice(&digest[..4]);
    (forged, forged_head)
}
