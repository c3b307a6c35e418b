//! The sync session between an edge and the cloud: a state machine with no sockets, files,
//! clocks or threads. Frames in, frames out; documents are reached through [`Docs`].
//!
//! 1. Each side sends a [`Frame::Hello`]: its protocol version, its clock, its Automerge
//!    actor, and the documents it holds that concern the peer, with their heads.
//! 2. For every document whose heads differ (or that only one side has and both may hold),
//!    Automerge's sync protocol runs until both sides are quiescent. Documents that already
//!    agree cost nothing beyond the hello.
//! 3. The session stays open: [`Session::local_change`] pushes each new local change.
//!
//! Authority is checked by the receiver before anything is applied ([`authority`]): the
//! cloud accepts from a node only its own hall's writable documents, and only changes made
//! by the actor that node declared; a node accepts from the cloud only its hall's documents,
//! the catalogue and the card directory. A refused message is answered with
//! [`Frame::Refused`] and nothing of it is applied.
//!
//! Sync states are kept per document and persisted after every received message; a new
//! session (after a lost connection) starts from the persisted form, which keeps only the
//! shared heads, so nothing in flight in the lost session is assumed delivered.

use crate::docid::DocId;
use crate::inspect;
use crate::wire::{DocHeads, Frame, PROTOCOL_VERSION};
use automerge::sync::{Message, State};
use automerge::{ActorId, Automerge, Change, ChangeHash, sync::SyncDoc};
use onestop_model::HallId;
use std::collections::{BTreeMap, BTreeSet, VecDeque};

/// Which end of the link this session is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Side {
    /// A hall's node, talking to the cloud.
    Edge { hall: HallId },
    /// The cloud, talking to the node of `hall` named `node` (both from its certificate).
    Cloud { node: String, hall: HallId },
}

impl Side {
    fn hall(&self) -> &HallId {
        match self {
            Side::Edge { hall } | Side::Cloud { hall, .. } => hall,
        }
    }
}

/// Who may write what. Pure functions of the document id, the link and the changes.
pub mod authority {
    use super::*;

    /// May the receiving side hold this document for this link at all?
    pub fn may_hold(side: &Side, doc: &DocId) -> bool {
        match doc {
            DocId::Catalog | DocId::Cards => true,
            other => other.hall() == Some(side.hall()),
        }
    }

    /// May the peer write to this document? (Checked by the cloud for every change a node sends.)
    pub fn may_write(side: &Side, doc: &DocId) -> Result<(), String> {
        match side {
            // The cloud is the authority of everything a node holds.
            Side::Edge { .. } => {
                if may_hold(side, doc) {
                    Ok(())
                } else {
                    Err(format!("{doc} does not belong to this hall"))
                }
            }
            Side::Cloud { hall, node } => match doc {
                DocId::Catalog | DocId::Cards => Err(format!("{doc} is read-only for nodes")),
                other if other.hall() != Some(hall) => {
                    Err(format!("node {node} of hall {hall} may not write {other}"))
                }
                _ => Ok(()),
            },
        }
    }

    /// Is the document current enough for the cloud to offer it to a node that does not list
    /// it: the catalogue, the card directory, days and bookings from `from` on, cases from
    /// the month before `from` on. Older documents still sync when the node lists them.
    pub fn current(doc: &DocId, from: Option<onestop_model::Day>) -> bool {
        let Some(from) = from else { return true };
        match doc {
            DocId::Catalog | DocId::Cards => true,
            DocId::Day { day, .. } | DocId::Bookings { day, .. } => *day >= from,
            DocId::Cases { month, .. } => {
                let this = crate::docid::Month::of(from);
                let previous = if this.month == 1 {
                    crate::docid::Month { year: this.year - 1, month: 12 }
                } else {
                    crate::docid::Month { year: this.year, month: this.month - 1 }
                };
                *month >= previous
            }
        }
    }

    /// Were all these changes (their authors) made by the peer's declared actor? (The
    /// cloud's check.)
    pub fn changes_by<'a>(
        actor: &ActorId,
        authors: impl IntoIterator<Item = &'a ActorId>,
    ) -> Result<(), String> {
        changes_by_one_of(std::slice::from_ref(actor), authors)
    }

    /// Every author is one of `allowed` (the node's actor, and the cloud's former actors: see
    /// [`Session::with_former_actors`]).
    pub fn changes_by_one_of<'a>(
        allowed: &[ActorId],
        authors: impl IntoIterator<Item = &'a ActorId>,
    ) -> Result<(), String> {
        match authors.into_iter().find(|a| !allowed.contains(a)) {
            None => Ok(()),
            Some(other) => Err(format!("a change by actor {other} which is not this node's")),
        }
    }
}

/// A failure that ends the session (the shell closes the connection and reconnects later).
#[derive(Debug, thiserror::Error)]
pub enum SessionError {
    #[error("the peer speaks protocol {0}, this node speaks {PROTOCOL_VERSION}")]
    Version(u16),
    #[error("the peer sent {0} before its hello")]
    NoHello(&'static str),
    #[error("the peer's actor is not bound to it: {0}")]
    Actor(String),
    #[error("documents: {0}")]
    Docs(#[from] DocsError),
}

/// A failure of the store behind a [`Docs`] (its own error type, kept whole: `onestop-store`
/// downcasts it to tell a full disk from a bug).
pub type StoreFailure = Box<dyn std::error::Error + Send + Sync + 'static>;

impl SessionError {
    /// The store's error, when the session ended because the store failed.
    pub fn store_error(&self) -> Option<&(dyn std::error::Error + Send + Sync + 'static)> {
        match self {
            SessionError::Docs(DocsError::Store(e)) => Some(e.as_ref()),
            _ => None,
        }
    }
}

/// Why the documents did not do what the session asked.
#[derive(Debug, thiserror::Error)]
pub enum DocsError {
    /// The store failed (a full disk, an I/O error, a damaged database, a bug): the session
    /// ends, and the link tries again later; nothing is refused.
    #[error(transparent)]
    Store(StoreFailure),
    /// What the peer sent cannot be taken (changes that do not apply, a copy that lacks what
    /// this side holds): a refusal of that document, answered with a `Refused` frame.
    #[error("{0}")]
    Invalid(String),
}

/// What the session tells its shell.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SessionEvent {
    /// The peer's hello: its clock (the edge corrects its own with the cloud's) and actor.
    Greeted { peer_time_ms: i64, peer_actor: Vec<u8> },
    /// A peer's changes were applied to a document.
    Applied { doc: DocId },
    /// A sync message arrived that added nothing here (typically the peer acknowledging what
    /// we sent): the shared heads moved.
    Acknowledged { doc: DocId },
    /// A message was refused (by us, or by the peer about our changes).
    Refused { doc: DocId, reason: String, by_peer: bool },
    /// This side now holds every change the peer's hello listed (once a session): a new or
    /// replaced node has today's record back and may open its day.
    CaughtUp,
}

/// The documents a session syncs: the store on a node or the cloud, a map in tests.
///
/// Errors are [`DocsError`]s: a store that fails ends the session, data that does not fit is
/// refused.
pub trait Docs {
    /// Documents held that concern `side`'s link, with their heads.
    fn held(&mut self, side: &Side) -> Result<Vec<DocHeads>, DocsError>;
    /// The document, if held.
    fn doc(&mut self, id: &DocId) -> Result<Option<&Automerge>, DocsError>;
    /// Adds `changes` to the document (creating it if new), durably.
    fn apply(&mut self, id: &DocId, changes: Vec<Change>) -> Result<(), DocsError>;
    /// Replaces the document by `doc`, which holds everything it held and more, durably (for
    /// large arrivals, which are cheaper stored whole than change by change). `saved`, when
    /// given, is `doc` already saved (the bytes a whole-document message carried).
    fn adopt(&mut self, id: &DocId, doc: Automerge, saved: Option<Vec<u8>>) -> Result<(), DocsError>;
    /// Stores a document this side does not hold from the saved bytes a whole-document
    /// message carried, durably and without loading it; `heads` come from its header.
    fn adopt_saved(&mut self, id: &DocId, bytes: Vec<u8>, heads: Vec<ChangeHash>) -> Result<(), DocsError>;
    /// Applies a sync message that brings no changes to the held document's sync `state`
    /// (the document itself does not change), without copying the document. `Ok(false)`:
    /// the document is not held.
    fn receive_without_changes(
        &mut self,
        id: &DocId,
        state: &mut State,
        msg: Message,
    ) -> Result<bool, DocsError>;
    /// The document's heads, `None` if it is not held (without loading it where possible).
    fn heads(&mut self, id: &DocId) -> Result<Option<Vec<ChangeHash>>, DocsError>;
    /// Forgets a document and its sync state, durably.
    fn discard(&mut self, id: &DocId) -> Result<(), DocsError>;
    /// The persisted sync state for this link and document.
    fn load_state(&mut self, id: &DocId) -> Option<State>;
    /// Persists the sync state for this link and document.
    fn save_state(&mut self, id: &DocId, state: &State);
}

/// One edge–cloud session.
pub struct Session {
    side: Side,
    actor: ActorId,
    /// The cloud's record of the actors bound to this node; `None` on the edge.
    bound: Option<BTreeSet<ActorId>>,
    peer_actor: Option<ActorId>,
    /// Offer documents from this day on (the cloud); `None` offers everything.
    offer_from: Option<onestop_model::Day>,
    /// The documents the peer listed in its hello.
    peer_docs: BTreeSet<DocId>,
    /// What the peer's hello listed that this side may hold and does not hold yet (heads);
    /// `None` once caught up and told.
    behind: Option<BTreeMap<DocId, Vec<ChangeHash>>>,
    states: BTreeMap<DocId, State>,
    refused: BTreeSet<DocId>,
    out: VecDeque<Frame>,
    /// What one message from the peer may hold.
    limits: inspect::Limits,
    /// What the peer may still send (the cloud's per-node quotas); none on the edge.
    quota: Option<Box<dyn Quota>>,
    /// The cloud's own actors before a restore from a backup: their changes may come back
    /// from a node (see [`Session::with_former_actors`]).
    former: Vec<ActorId>,
}

/// What a peer may still send, across its sessions (kept by the shell: the cloud's per-node
/// quotas of documents and bytes a day).
pub trait Quota: Send {
    /// Admits a message of `bytes` bringing changes to `doc` (`new_doc`: one this side does
    /// not hold yet); an error is the refusal's reason.
    fn admit(&mut self, doc: &DocId, new_doc: bool, bytes: u64) -> Result<(), String>;
}

impl Session {
    /// A session for `side`, writing as `actor`. On the cloud, `bound` holds the actors bound
    /// to the node; a hello declaring another actor ends the session.
    pub fn new(side: Side, actor: ActorId, bound: Option<BTreeSet<ActorId>>) -> Session {
        Session {
            side,
            actor,
            bound,
            peer_actor: None,
            offer_from: None,
            peer_docs: BTreeSet::new(),
            behind: Some(BTreeMap::new()),
            states: BTreeMap::new(),
            refused: BTreeSet::new(),
            out: VecDeque::new(),
            limits: inspect::Limits::default(),
            quota: None,
            former: Vec::new(),
        }
    }

    /// On the cloud: its actors before it was restored from a backup. A node holds the changes
    /// they made after the backup (bookings, case steps it received) and sends them back; in
    /// the documents the node may write anyway (its hall's days, bookings and cases; never
    /// the catalogue or the card directory) they are taken as if the node had written them.
    /// The cloud's current actor is never taken from a node.
    pub fn with_former_actors(mut self, former: Vec<ActorId>) -> Session {
        self.former = former.into_iter().filter(|a| *a != self.actor).collect();
        self
    }

    /// Who may author the changes a peer sends: the peer, and the cloud's former actors.
    fn allowed_authors(&self, peer: &ActorId) -> Vec<ActorId> {
        let mut allowed = self.former.clone();
        allowed.push(peer.clone());
        allowed
    }

    /// Other limits on one message from the peer.
    pub fn with_limits(mut self, limits: inspect::Limits) -> Session {
        self.limits = limits;
        self
    }

    /// Quotas on what the peer sends (the cloud, per node).
    pub fn with_quota(mut self, quota: Box<dyn Quota>) -> Session {
        self.quota = Some(quota);
        self
    }

    /// Offers the peer only documents current from `day` on (see [`authority::current`]):
    /// the cloud does not push a hall's whole history to a new node.
    pub fn offer_from(mut self, day: onestop_model::Day) -> Session {
        self.offer_from = Some(day);
        self
    }

    fn offers(&self, id: &DocId) -> bool {
        self.peer_docs.contains(id) || authority::current(id, self.offer_from)
    }

    /// Sends this side's hello; call once, right after the connection opens.
    pub fn open(&mut self, docs: &mut dyn Docs, now_ms: i64) -> Result<(), SessionError> {
        let mut held = docs.held(&self.side)?;
        held.retain(|d| authority::current(&d.id, self.offer_from));
        self.out.push_back(Frame::Hello {
            version: PROTOCOL_VERSION,
            time_ms: now_ms,
            actor: self.actor.to_bytes().to_vec(),
            docs: held,
        });
        Ok(())
    }

    /// The next frame to send, if any.
    pub fn poll_transmit(&mut self) -> Option<Frame> {
        self.out.pop_front()
    }

    /// Nothing is waiting to be sent.
    pub fn is_idle(&self) -> bool {
        self.out.is_empty()
    }

    /// Has the peer's hello arrived?
    pub fn is_greeted(&self) -> bool {
        self.peer_actor.is_some()
    }

    fn state(&mut self, docs: &mut dyn Docs, id: &DocId) -> State {
        if let Some(s) = self.states.get(id) {
            return s.clone();
        }
        docs.load_state(id).unwrap_or_default()
    }

    /// Generates and queues the next sync message for `id`, if there is one.
    fn sync_doc(&mut self, docs: &mut dyn Docs, id: &DocId) -> Result<(), SessionError> {
        if self.refused.contains(id) {
            return Ok(());
        }
        let mut state = self.state(docs, id);
        let empty = Automerge::new();
        // In step already (e.g. the notice of a document this session just received): no
        // message, and no need to load the document to find that out.
        if docs.heads(id)?.is_some_and(|h| in_step(&state, &h)) {
            self.states.insert(id.clone(), state);
            return Ok(());
        }
        let msg = match docs.doc(id)? {
            Some(doc) => doc.generate_sync_message(&mut state),
            // A document we do not have yet: an empty one asks the peer for everything.
            None => empty.generate_sync_message(&mut state),
        };
        self.states.insert(id.clone(), state);
        if let Some(m) = msg {
            self.out.push_back(Frame::Sync { doc: id.clone(), message: m.encode() });
        }
        Ok(())
    }

    /// A local change was made to `id`: push it to the peer.
    pub fn local_change(&mut self, docs: &mut dyn Docs, id: &DocId) -> Result<(), SessionError> {
        if self.is_greeted() && authority::may_hold(&self.side, id) && self.offers(id) {
            self.sync_doc(docs, id)?;
        }
        Ok(())
    }

    /// Handles one frame from the peer.
    pub fn receive(&mut self, docs: &mut dyn Docs, frame: Frame) -> Result<Vec<SessionEvent>, SessionError> {
        match frame {
            Frame::Hello { version, time_ms, actor, docs: theirs } => {
                if version != PROTOCOL_VERSION {
                    return Err(SessionError::Version(version));
                }
                if self.peer_actor.is_some() {
                    return Err(SessionError::Actor("a second hello in one session".into()));
                }
                if actor.len() != 16 {
                    return Err(SessionError::Actor(format!(
                        "an actor id of {} bytes (16 expected)",
                        actor.len()
                    )));
                }
                let peer = ActorId::from(actor.as_slice());
                if peer == self.actor {
                    return Err(SessionError::Actor(format!("actor {peer} is this side's own")));
                }
                if let Some(bound) = &self.bound
                    && !bound.contains(&peer)
                {
                    return Err(SessionError::Actor(format!("actor {peer} is not bound to this node")));
                }
                self.peer_actor = Some(peer);
                self.peer_docs = theirs.iter().map(|d| d.id.clone()).collect();
                if matches!(self.side, Side::Edge { .. }) {
                    self.drop_local_seeds(docs)?;
                }
                let ours: BTreeMap<DocId, Vec<ChangeHash>> =
                    docs.held(&self.side)?.into_iter().map(|d| (d.id, d.heads)).collect();
                // Each document is started by a side that holds it: a document only the peer
                // holds is started by the peer (it sees we did not list it). Were both to start
                // it, Automerge would send the whole document twice.
                let mut wanted: BTreeSet<DocId> = BTreeSet::new();
                for d in &theirs {
                    let Some(ours_heads) = ours.get(&d.id) else { continue };
                    let mut ours_heads = ours_heads.clone();
                    let mut their_heads = d.heads.clone();
                    ours_heads.sort();
                    their_heads.sort();
                    if ours_heads != their_heads && authority::may_hold(&self.side, &d.id) {
                        wanted.insert(d.id.clone());
                    }
                }
                for id in ours.keys() {
                    if !self.peer_docs.contains(id) && authority::current(id, self.offer_from) {
                        wanted.insert(id.clone());
                    }
                }
                for id in wanted {
                    self.sync_doc(docs, &id)?;
                }
                self.behind = Some(
                    theirs
                        .into_iter()
                        .filter(|d| authority::may_hold(&self.side, &d.id) && !d.heads.is_empty())
                        .map(|d| (d.id, d.heads))
                        .collect(),
                );
                let mut events = vec![SessionEvent::Greeted { peer_time_ms: time_ms, peer_actor: actor }];
                events.extend(self.caught_up(docs)?);
                Ok(events)
            }
            Frame::Sync { doc, message } => {
                let Some(peer) = self.peer_actor.clone() else {
                    return Err(SessionError::NoHello("a sync message"));
                };
                if self.refused.contains(&doc) {
                    return Ok(Vec::new());
                }
                match self.receive_sync(docs, &doc, &message, &peer) {
                    Ok((applied, answered)) => {
                        if !answered {
                            self.sync_doc(docs, &doc)?;
                        }
                        let mut events = vec![if applied {
                            SessionEvent::Applied { doc }
                        } else {
                            SessionEvent::Acknowledged { doc }
                        }];
                        if applied {
                            events.extend(self.caught_up(docs)?);
                        }
                        Ok(events)
                    }
                    Err(Refusal::Store(e)) => Err(SessionError::Docs(DocsError::Store(e))),
                    Err(Refusal::Policy(reason)) => {
                        tracing::warn!(message = "Refused a peer's changes.", doc = %doc, reason = %reason);
                        self.refused.insert(doc.clone());
                        self.out.push_back(Frame::Refused { doc: doc.clone(), reason: reason.clone() });
                        Ok(vec![SessionEvent::Refused { doc, reason, by_peer: false }])
                    }
                }
            }
            Frame::Refused { doc, reason } => {
                tracing::warn!(message = "The peer refused our changes.", doc = %doc, reason = %reason);
                self.refused.insert(doc.clone());
                Ok(vec![SessionEvent::Refused { doc, reason, by_peer: true }])
            }
        }
    }

    /// [`SessionEvent::CaughtUp`] the first time this side holds every change the peer's
    /// hello listed (documents it refused aside).
    fn caught_up(&mut self, docs: &mut dyn Docs) -> Result<Option<SessionEvent>, SessionError> {
        let Some(behind) = self.behind.as_mut() else { return Ok(None) };
        let refused = &self.refused;
        let mut done = Vec::new();
        for (id, theirs) in behind.iter() {
            if refused.contains(id) {
                done.push(id.clone());
                continue;
            }
            let mut ours = docs.heads(id)?.unwrap_or_default();
            ours.sort();
            let mut wanted = theirs.clone();
            wanted.sort();
            // Equal heads are the same changes; otherwise every head of theirs must be here.
            let held = ours == wanted
                || (!ours.is_empty()
                    && docs.doc(id)?.is_some_and(|d| {
                        wanted.iter().all(|h| automerge::ReadDoc::get_change_by_hash(d, h).is_some())
                    }));
            if held {
                done.push(id.clone());
            }
        }
        for id in done {
            behind.remove(&id);
        }
        if behind.is_empty() && self.peer_actor.is_some() {
            self.behind = None;
            return Ok(Some(SessionEvent::CaughtUp));
        }
        Ok(None)
    }

    /// The catalogue and the card directory belong to the cloud: a copy this node wrote itself
    /// (a hall set up from a catalogue file before it met its cloud) is dropped, so the
    /// cloud's arrives whole instead of being merged with it.
    fn drop_local_seeds(&mut self, docs: &mut dyn Docs) -> Result<(), SessionError> {
        for id in [DocId::Catalog, DocId::Cards] {
            let seeded = match docs.doc(&id)? {
                Some(doc) => doc.get_changes_meta(&[]).iter().any(|c| *c.actor == self.actor),
                None => false,
            };
            if seeded {
                tracing::info!(message = "Replacing the local catalogue with the cloud's.", doc = %id);
                docs.discard(&id)?;
                self.states.remove(&id);
            }
        }
        Ok(())
    }

    /// Applies a sync message all or nothing. `Ok((added, answered))`: whether changes were
    /// added, and whether the answer is already queued.
    fn receive_sync(
        &mut self,
        docs: &mut dyn Docs,
        id: &DocId,
        message: &[u8],
        peer: &ActorId,
    ) -> Result<(bool, bool), Refusal> {
        if !authority::may_hold(&self.side, id) {
            return Err(Refusal::Policy(match &self.side {
                Side::Cloud { node, hall } => format!("node {node} of hall {hall} may not sync {id}"),
                Side::Edge { hall } => format!("{id} does not belong to hall {hall}"),
            }));
        }
        // Measured and its authors read before anything in it is decoded, inflated or applied.
        let inspected = inspect::message(message, &self.limits)
            .map_err(|e| Refusal::Policy(format!("sync message refused: {e}")))?;
        if inspected.changes > 0 {
            authority::may_write(&self.side, id).map_err(Refusal::Policy)?;
            if matches!(self.side, Side::Cloud { .. }) {
                // The change chunks' authors; a document chunk's new changes are checked below.
                let authors: Vec<ActorId> =
                    inspected.authors.iter().map(|a| ActorId::from(a.as_slice())).collect();
                authority::changes_by_one_of(&self.allowed_authors(peer), authors.iter())
                    .map_err(Refusal::Policy)?;
            }
            if let Some(quota) = self.quota.as_mut() {
                let new_doc = docs.heads(id)?.is_none();
                quota.admit(id, new_doc, message.len() as u64).map_err(Refusal::Policy)?;
            }
        }
        let msg =
            Message::decode(message).map_err(|e| Refusal::Policy(format!("unreadable sync message: {e}")))?;
        let mut state = self.state(docs, id);
        if let Some(answered) = self.receive_whole(docs, id, &msg, &mut state, peer)? {
            return Ok((true, answered));
        }
        // No changes (an answer, a request): only the sync state moves, and nothing can be
        // refused, so there is no copy to make (forking a busy day costs tens of milliseconds).
        if msg.changes.is_empty() && docs.receive_without_changes(id, &mut state, msg.clone())? {
            docs.save_state(id, &state);
            self.states.insert(id.clone(), state);
            return Ok((false, false));
        }
        // A whole document arriving for a document we do not have: its bytes are already the
        // saved form of what we will hold.
        let whole = if msg.changes.len() == 1 { msg.changes.iter().next().map(<[u8]>::to_vec) } else { None };
        // Apply to a copy first, so a refused message leaves no trace.
        let (mut copy, before) = match docs.doc(id)? {
            Some(doc) => (doc.fork(), doc.get_heads()),
            None => (Automerge::new(), Vec::new()),
        };
        copy.receive_sync_message(&mut state, msg)
            .map_err(|e| Refusal::Policy(format!("the sync message does not apply: {e}")))?;
        let new = copy.get_changes_meta(&before);
        let added = new.len();
        // Asking for changes is reading; only a message that brings changes is a write.
        if added > 0 {
            authority::may_write(&self.side, id).map_err(Refusal::Policy)?;
            if matches!(self.side, Side::Cloud { .. }) {
                authority::changes_by_one_of(
                    &self.allowed_authors(peer),
                    new.iter().map(|c| c.actor.as_ref()),
                )
                .map_err(Refusal::Policy)?;
            }
        }
        drop(new);
        if added > ADOPT_ABOVE {
            // The bytes as they came are the saved form only if every change in them applied
            // (Automerge leaves out what it cannot apply, and would store it all the same).
            let saved = if before.is_empty() && added as u64 == inspected.changes { whole } else { None };
            docs.adopt(id, copy, saved)?;
        } else if added > 0 {
            docs.apply(id, copy.get_changes(&before))?;
        }
        let applied = added > 0;
        docs.save_state(id, &state);
        self.states.insert(id.clone(), state);
        Ok((applied, false))
    }

    /// A whole document for a document this side does not hold (a week's backlog, a hall's
    /// history) is stored as it came, once loaded and checked against its header (heads and
    /// authors): nothing is applied to a held document, no sync state is built by Automerge.
    /// Does what `receive_sync_message` and then
    /// `generate_sync_message` would do to the sync state, and queues the same answer (our
    /// heads are theirs; nothing to send; an empty Bloom filter since the shared heads).
    /// `Ok(None)`: not such a message, or one this path does not take (the ordinary path
    /// then handles it, checking everything).
    fn receive_whole(
        &mut self,
        docs: &mut dyn Docs,
        id: &DocId,
        msg: &Message,
        state: &mut State,
        peer: &ActorId,
    ) -> Result<Option<bool>, Refusal> {
        use automerge::sync::{BloomFilter, Have, MessageFlags};
        if msg.changes.len() != 1 || state.needs_reset || state.read_only {
            return Ok(None);
        }
        let Some(bytes) = msg.changes.iter().next() else { return Ok(None) };
        let Some(header) = crate::wholedoc::read_header(bytes) else { return Ok(None) };
        let sorted = |h: &[ChangeHash]| {
            let mut h = h.to_vec();
            h.sort();
            h
        };
        let heads = sorted(&header.heads);
        // Their heads must be the document's, and what they say we last shared must be in it.
        if heads.is_empty()
            || sorted(&msg.heads) != heads
            || msg.have.iter().any(|h| h.last_sync.iter().any(|c| !heads.contains(c)))
        {
            return Ok(None);
        }
        if docs.heads(id)?.is_some() {
            return Ok(None);
        }
        authority::may_write(&self.side, id).map_err(Refusal::Policy)?;
        if matches!(self.side, Side::Cloud { .. }) {
            authority::changes_by_one_of(&self.allowed_authors(peer), header.actors.iter())
                .map_err(Refusal::Policy)?;
        }
        // Loaded and checked before it is stored: a body that does not match the header the
        // sender computed (heads, authors) is refused, never kept to break every later read.
        let loaded = Automerge::load(bytes)
            .map_err(|e| Refusal::Policy(format!("the whole document does not load: {e}")))?;
        if sorted(&loaded.get_heads()) != heads {
            return Err(Refusal::Policy("the whole document's heads are not those its header states".into()));
        }
        if matches!(self.side, Side::Cloud { .. }) {
            let meta = loaded.get_changes_meta(&[]);
            authority::changes_by_one_of(&self.allowed_authors(peer), meta.iter().map(|c| c.actor.as_ref()))
                .map_err(Refusal::Policy)?;
        }
        drop(loaded);
        docs.adopt_saved(id, bytes.to_vec(), heads.clone())?;
        // As receive_sync_message: the flags, the shared heads, what they have and need.
        state.in_flight = false;
        if let Some(flags) = msg.flags {
            let mut caps = vec![automerge::sync::Capability::MessageV2];
            if flags.contains(MessageFlags::SUPPORTS_SYNC_RESET) {
                caps.push(automerge::sync::Capability::SyncReset);
            }
            state.their_capabilities = Some(caps);
            if flags.contains(MessageFlags::SYNC_RESET) {
                state.sent_hashes.clear();
            }
            state.peer_read_only = flags.contains(MessageFlags::READ_ONLY);
        }
        state.shared_heads = heads.clone();
        state.their_have = Some(msg.have.clone());
        state.their_heads = Some(msg.heads.clone());
        state.their_need = Some(msg.need.clone());
        // As generate_sync_message: our heads, nothing needed, nothing to send.
        let answer = if state.last_sent_heads == heads && state.have_responded {
            None
        } else {
            state.have_responded = true;
            state.last_sent_heads = heads.clone();
            state.in_flight = true;
            let mut flags = MessageFlags::new();
            flags.set(MessageFlags::SUPPORTS_SYNC_RESET);
            let v2 = state
                .their_capabilities
                .as_ref()
                .is_some_and(|c| c.contains(&automerge::sync::Capability::MessageV2));
            Some(Message {
                heads: heads.clone(),
                need: Vec::new(),
                have: vec![Have { last_sync: heads, bloom: BloomFilter::default() }],
                changes: Vec::<Vec<u8>>::new().into(),
                flags: Some(flags),
                version: if v2 {
                    automerge::sync::MessageVersion::V2
                } else {
                    automerge::sync::MessageVersion::V1
                },
            })
        };
        docs.save_state(id, state);
        self.states.insert(id.clone(), state.clone());
        if let Some(m) = answer {
            self.out.push_back(Frame::Sync { doc: id.clone(), message: m.encode() });
        }
        Ok(Some(true))
    }
}

/// Would `generate_sync_message` say nothing? True when the peer has told us it holds
/// exactly our heads (the same heads are the same changes: there is nothing to send, whatever
/// its Bloom filter says) and needs nothing, and we have already told it our heads.
/// Automerge reaches the same answer only after loading the document and walking its whole
/// change graph (tens of milliseconds on a busy day, for every document of a large exchange).
fn in_step(state: &State, ours: &[ChangeHash]) -> bool {
    let sorted = |h: &[ChangeHash]| {
        let mut h = h.to_vec();
        h.sort();
        h
    };
    let ours = sorted(ours);
    state.have_responded
        && !state.needs_reset
        && sorted(&state.last_sent_heads) == ours
        && state.their_heads.as_deref().is_some_and(|t| sorted(t) == ours)
        && state.their_need.as_deref().is_some_and(<[ChangeHash]>::is_empty)
}

/// More new changes than this in one message are stored as the whole document.
const ADOPT_ABOVE: usize = 256;

/// Why a received message was not taken: refused (the peer is told), or the store failed
/// (the session ends).
enum Refusal {
    Policy(String),
    Store(StoreFailure),
}

impl From<DocsError> for Refusal {
    fn from(e: DocsError) -> Refusal {
        match e {
            DocsError::Store(e) => Refusal::Store(e),
            DocsError::Invalid(reason) => Refusal::Policy(reason),
        }
    }
}

/// Documents in memory, for tests and tools: the same trait the store implements.
#[derive(Default)]
pub struct MemDocs {
    pub docs: BTreeMap<DocId, Automerge>,
    pub states: BTreeMap<DocId, Vec<u8>>,
}

impl Docs for MemDocs {
    fn held(&mut self, side: &Side) -> Result<Vec<DocHeads>, DocsError> {
        Ok(self
            .docs
            .iter()
            .filter(|(id, _)| authority::may_hold(side, id))
            .map(|(id, d)| DocHeads { id: id.clone(), heads: d.get_heads() })
            .collect())
    }
    fn doc(&mut self, id: &DocId) -> Result<Option<&Automerge>, DocsError> {
        Ok(self.docs.get(id))
    }
    fn apply(&mut self, id: &DocId, changes: Vec<Change>) -> Result<(), DocsError> {
        let doc = self.docs.entry(id.clone()).or_default();
        doc.apply_changes(changes).map_err(|e| DocsError::Invalid(format!("{id}: {e}")))
    }
    fn adopt(&mut self, id: &DocId, doc: Automerge, _saved: Option<Vec<u8>>) -> Result<(), DocsError> {
        self.docs.insert(id.clone(), doc);
        Ok(())
    }
    fn adopt_saved(&mut self, id: &DocId, bytes: Vec<u8>, _heads: Vec<ChangeHash>) -> Result<(), DocsError> {
        let doc = Automerge::load(&bytes).map_err(|e| DocsError::Invalid(format!("{id}: {e}")))?;
        self.docs.insert(id.clone(), doc);
        Ok(())
    }
    fn heads(&mut self, id: &DocId) -> Result<Option<Vec<ChangeHash>>, DocsError> {
        Ok(self.docs.get(id).map(|d| d.get_heads()))
    }
    fn receive_without_changes(
        &mut self,
        id: &DocId,
        state: &mut State,
        msg: Message,
    ) -> Result<bool, DocsError> {
        match self.docs.get_mut(id) {
            Some(doc) => doc
                .receive_sync_message(state, msg)
                .map(|()| true)
                .map_err(|e| DocsError::Invalid(format!("{id}: the sync message does not apply: {e}"))),
            None => Ok(false),
        }
    }
    fn discard(&mut self, id: &DocId) -> Result<(), DocsError> {
        self.docs.remove(id);
        self.states.remove(id);
        Ok(())
    }
    fn load_state(&mut self, id: &DocId) -> Option<State> {
        self.states.get(id).and_then(|b| State::decode(b).ok())
    }
    fn save_state(&mut self, id: &DocId, state: &State) {
        self.states.insert(id.clone(), state.encode());
    }
}

#[cfg(test)]
#[path = "session_tests.rs"]
mod tests;
