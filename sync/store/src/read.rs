//! Typed reads of the store's documents: each document read and decoded in one call, with one
//! error type ([`StoreError`]; a document that does not decode is [`StoreError::Doc`]).
//!
//! [`ReadDocs`] is implemented by the [`Store`] and by a write's [`Batch`] (reads inside a
//! write see what the write is about to change). What an absent document means is decided
//! here, once: no catalogue is `None` (a hall cannot run without one); an absent day, bookings
//! or cases document holds nothing; an absent card directory is [`CardLookup::NoDirectory`].

use crate::{Batch, Store, StoreError};
use automerge::Automerge;
use onestop_model::{Booking, CardEntry, Case, CaseNo, Catalog, Day, DayEvent, HallId};
use onestop_protocol::codec::DocError;
use onestop_protocol::day::DayTail;
use onestop_protocol::docid::{DocId, Month};
use onestop_protocol::{bookings, cards, cases, catalog, day};

/// What the card directory says about one card.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CardLookup {
    /// No directory has been published yet.
    NoDirectory,
    /// The directory does not know the card.
    Unknown,
    /// The card's entry.
    Known(CardEntry),
}

impl CardLookup {
    /// The entry, if the directory knows the card.
    pub fn entry(self) -> Option<CardEntry> {
        match self {
            CardLookup::Known(e) => Some(e),
            CardLookup::NoDirectory | CardLookup::Unknown => None,
        }
    }
}

fn decoded<T>(id: &DocId, r: Result<T, DocError>) -> Result<T, StoreError> {
    r.map_err(|source| StoreError::Doc { doc: id.to_string(), source: Box::new(source) })
}

/// Typed readers over something that holds documents (the [`Store`], a write's [`Batch`]).
pub trait ReadDocs {
    /// The document, `None` if it has never been written.
    fn raw_doc(&mut self, id: &DocId) -> Result<Option<&Automerge>, StoreError>;

    /// Whether the document is held in memory now (a reader that loads a guessed document
    /// only to find it absent forgets it again).
    fn holds(&self, _id: &DocId) -> bool {
        true
    }

    /// Forgets a document loaded only to be found absent.
    fn forget(&mut self, _id: &DocId) {}

    /// The published catalogue; `None` before the first publication.
    fn catalog(&mut self) -> Result<Option<Catalog>, StoreError> {
        let id = DocId::Catalog;
        let Some(doc) = self.raw_doc(&id)? else { return Ok(None) };
        decoded(&id, catalog::read(doc)).map(Some)
    }

    /// A hall's events on a day (none before its first).
    fn day_events(&mut self, hall: &HallId, day: Day) -> Result<Vec<DayEvent>, StoreError> {
        let id = DocId::Day { hall: hall.clone(), day };
        let name = id.to_string();
        let Some(doc) = self.raw_doc(&id)? else { return Ok(Vec::new()) };
        decoded(&id, day::read(doc, &name)).map(|d| d.events)
    }

    /// A hall's events on a day from index `start` on ([`day::read_from`]); `None` when the
    /// document does not exist.
    fn day_tail(&mut self, hall: &HallId, day: Day, start: usize) -> Result<Option<DayTail>, StoreError> {
        let id = DocId::Day { hall: hall.clone(), day };
        let name = id.to_string();
        let Some(doc) = self.raw_doc(&id)? else { return Ok(None) };
        decoded(&id, day::read_from(doc, &name, start)).map(Some)
    }

    /// A hall's bookings for a day (none before the first).
    fn bookings(&mut self, hall: &HallId, day: Day) -> Result<Vec<Booking>, StoreError> {
        let id = DocId::Bookings { hall: hall.clone(), day };
        let name = id.to_string();
        let Some(doc) = self.raw_doc(&id)? else { return Ok(Vec::new()) };
        decoded(&id, bookings::read(doc, &name))
    }

    /// A hall's cases of a month, sorted by number (none before the first).
    fn cases(&mut self, hall: &HallId, month: Month) -> Result<Vec<Case>, StoreError> {
        let id = DocId::Cases { hall: hall.clone(), month };
        let name = id.to_string();
        let Some(doc) = self.raw_doc(&id)? else { return Ok(Vec::new()) };
        decoded(&id, cases::read(doc, &name))
    }

    /// One case by its number (which names its hall and month), without reading the others.
    /// A guessed document that does not exist is not kept in memory.
    fn case(&mut self, number: &CaseNo) -> Result<Option<Case>, StoreError> {
        let Some((day, hall, _)) = number.parts() else { return Ok(None) };
        let id = DocId::Cases { hall, month: Month::of(day) };
        let name = id.to_string();
        let held = self.holds(&id);
        match self.raw_doc(&id)? {
            Some(doc) => decoded(&id, cases::find(doc, &name, number)),
            None => {
                if !held {
                    self.forget(&id);
                }
                Ok(None)
            }
        }
    }

    /// What the card directory says about `card`.
    fn card(&mut self, card: &str) -> Result<CardLookup, StoreError> {
        let id = DocId::Cards;
        let Some(doc) = self.raw_doc(&id)? else { return Ok(CardLookup::NoDirectory) };
        Ok(match decoded(&id, cards::lookup(doc, card))? {
            Some(e) => CardLookup::Known(e),
            None => CardLookup::Unknown,
        })
    }

    /// How many cards the directory holds (none before the first import).
    fn card_count(&mut self) -> Result<usize, StoreError> {
        let id = DocId::Cards;
        let Some(doc) = self.raw_doc(&id)? else { return Ok(0) };
        decoded(&id, cards::count(doc))
    }
}

impl ReadDocs for Store {
    fn raw_doc(&mut self, id: &DocId) -> Result<Option<&Automerge>, StoreError> {
        self.doc(id)
    }
    fn holds(&self, id: &DocId) -> bool {
        self.is_loaded(id)
    }
    fn forget(&mut self, id: &DocId) {
        self.evict(id)
    }
}

/// Inside a write nothing is forgotten: the write reloads what it touched if it fails.
impl ReadDocs for Batch<'_> {
    fn raw_doc(&mut self, id: &DocId) -> Result<Option<&Automerge>, StoreError> {
        self.doc(id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use automerge::transaction::Transactable;
    use onestop_model::{CaseKind, CaseStatus, CaseStep, PersonKind, ServiceId, TicketNo, Timestamp};
    use onestop_protocol::hlc::HlcStamp;

    fn hall() -> HallId {
        HallId::new("main")
    }

    fn day() -> Day {
        Day::new(2026, 3, 2).unwrap()
    }

    fn stamp(store: &Store) -> HlcStamp {
        store.next_stamp(Timestamp(1_772_400_000_000))
    }

    /// Puts a document with a `type` this reader refuses at `id`.
    fn put_wrong_kind(store: &mut Store, id: &DocId) {
        let s = stamp(store);
        store
            .write(s, |b| {
                b.edit(id, |tx| {
                    onestop_protocol::codec::init_root(tx, "something-else")?;
                    Ok(())
                })
            })
            .unwrap();
    }

    #[test]
    fn absent_documents_read_as_nothing() {
        let mut store = Store::open_in_memory().unwrap();
        assert_eq!(store.catalog().unwrap(), None);
        assert!(store.day_events(&hall(), day()).unwrap().is_empty());
        assert_eq!(store.day_tail(&hall(), day(), 0).unwrap(), None);
        assert!(store.bookings(&hall(), day()).unwrap().is_empty());
        assert_eq!(store.card("2023010204").unwrap(), CardLookup::NoDirectory);
        assert_eq!(store.card_count().unwrap(), 0);
        let number = CaseNo::for_ticket(day(), &hall(), TicketNo::new('A', 1));
        let id = DocId::Cases { hall: hall(), month: Month::of(day()) };
        assert_eq!(store.case(&number).unwrap(), None);
        assert!(!store.is_loaded(&id), "a guessed, absent cases document is not kept in memory");
        assert!(store.cases(&hall(), Month::of(day())).unwrap().is_empty());
        assert_eq!(store.case(&number).unwrap(), None);
        assert!(store.is_loaded(&id), "a document held before stays held");
        assert_eq!(store.case(&CaseNo::new("not-a-case-number")).unwrap(), None);
    }

    fn sample_case(number: &CaseNo) -> Case {
        Case {
            number: number.clone(),
            code: "K7QM2P".into(),
            kind: CaseKind::Pending,
            hall: hall(),
            service: ServiceId::new("visa"),
            ticket: TicketNo::new('A', 1),
            window: 2,
            staff: None,
            visitor: None,
            history: vec![CaseStep {
                at: Timestamp(1_772_400_000_000),
                status: CaseStatus::Registered,
                by: "s1".into(),
                reason: None,
            }],
        }
    }

    #[test]
    fn present_documents_read_typed() {
        let mut store = Store::open_in_memory().unwrap();
        let cat = onestop_protocol::fixtures::sample_catalog();
        let entry =
            CardEntry { card: "2023010204".into(), kind: PersonKind::Graduate, college: "理学院".into() };
        let number = CaseNo::for_ticket(day(), &hall(), TicketNo::new('A', 1));
        let case = sample_case(&number);
        let s = stamp(&store);
        store
            .write(s, |b| {
                b.edit(&DocId::Catalog, |tx| Ok(catalog::write(tx, &cat)?))?;
                b.edit(&DocId::Cards, |tx| Ok(cards::replace_all(tx, std::slice::from_ref(&entry))?))?;
                let month = Month::of(day());
                let id = DocId::Cases { hall: hall(), month };
                b.edit(&id, |tx| Ok(cases::register(tx, &hall(), &month.to_string(), &case)?))?;
                // Inside the write, the batch reads what it is about to store.
                assert_eq!(b.card_count()?, 1);
                assert_eq!(b.case(&number)?.as_ref(), Some(&case));
                Ok(())
            })
            .unwrap();
        assert_eq!(store.catalog().unwrap(), Some(cat));
        assert_eq!(store.card("2023010204").unwrap(), CardLookup::Known(entry.clone()));
        assert_eq!(store.card("1").unwrap(), CardLookup::Unknown);
        assert_eq!(store.card("2023010204").unwrap().entry(), Some(entry));
        assert_eq!(store.card_count().unwrap(), 1);
        assert_eq!(store.case(&number).unwrap(), Some(case.clone()));
        assert_eq!(store.cases(&hall(), Month::of(day())).unwrap(), vec![case]);
    }

    #[test]
    fn an_undecodable_document_is_a_doc_error() {
        let mut store = Store::open_in_memory().unwrap();
        let ids = [
            DocId::Catalog,
            DocId::Cards,
            DocId::Day { hall: hall(), day: day() },
            DocId::Bookings { hall: hall(), day: day() },
            DocId::Cases { hall: hall(), month: Month::of(day()) },
        ];
        for id in &ids[2..] {
            put_wrong_kind(&mut store, id);
        }
        put_wrong_kind(&mut store, &DocId::Catalog);
        // A card directory whose entry is not a string.
        let s = stamp(&store);
        store
            .write(s, |b| {
                b.edit(&DocId::Cards, |tx| {
                    onestop_protocol::codec::init_root(tx, "cards")?;
                    let cards = tx.put_object(automerge::ROOT, "cards", automerge::ObjType::Map)?;
                    tx.put(&cards, "2023010204", 7_i64)?;
                    Ok(())
                })
            })
            .unwrap();
        let number = CaseNo::for_ticket(day(), &hall(), TicketNo::new('A', 1));
        let errors = [
            store.catalog().map(|_| ()).unwrap_err(),
            store.day_events(&hall(), day()).map(|_| ()).unwrap_err(),
            store.day_tail(&hall(), day(), 0).map(|_| ()).unwrap_err(),
            store.bookings(&hall(), day()).map(|_| ()).unwrap_err(),
            store.cases(&hall(), Month::of(day())).map(|_| ()).unwrap_err(),
            store.case(&number).map(|_| ()).unwrap_err(),
            store.card("2023010204").map(|_| ()).unwrap_err(),
        ];
        for e in errors {
            assert!(matches!(e, StoreError::Doc { .. }), "{e:?}");
            assert_eq!(e.kind(), crate::StoreFault::Internal);
        }
    }
}
