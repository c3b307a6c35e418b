//! The durable store as a sync session's documents ([`StoreDocs`]), and the store's errors
//! as the session carries them.

use crate::{Store, StoreError, StoreFault};
use automerge::sync::{Message, State};
use automerge::{Automerge, Change, ChangeHash};
use onestop_protocol::docid::DocId;
use onestop_protocol::session::{Docs, DocsError, SessionError, Side, authority};
use onestop_protocol::wire::DocHeads;

/// A [`StoreError`] as a session's [`DocsError`]: a write the store abandoned itself
/// ([`StoreFault::Refused`]: what arrived does not fit what it holds) is invalid data;
/// anything else is the store's failure.
impl From<StoreError> for DocsError {
    fn from(e: StoreError) -> DocsError {
        match e.kind() {
            StoreFault::Refused => DocsError::Invalid(e.to_string()),
            _ => DocsError::Store(Box::new(e)),
        }
    }
}

/// The store's error, when a session ended because the store failed.
pub fn store_error(e: &SessionError) -> Option<&StoreError> {
    e.store_error().and_then(|e| e.downcast_ref::<StoreError>())
}

/// The durable store as a session's documents: received changes are written durably before
/// the session answers, and sync states persist per (peer, document).
pub struct StoreDocs<'a> {
    pub store: &'a mut Store,
    /// The peer's name in the sync-state table (the cloud: "cloud"; a node: its node id).
    pub peer: String,
}

impl Docs for StoreDocs<'_> {
    fn held(&mut self, side: &Side) -> Result<Vec<DocHeads>, DocsError> {
        let ids = self.store.list_docs()?;
        let mut out = Vec::new();
        for id in ids.into_iter().filter(|id| authority::may_hold(side, id)) {
            if let Some(heads) = self.store.heads(&id)? {
                out.push(DocHeads { heads, id });
            }
        }
        Ok(out)
    }
    fn doc(&mut self, id: &DocId) -> Result<Option<&Automerge>, DocsError> {
        Ok(self.store.doc(id)?)
    }
    fn apply(&mut self, id: &DocId, changes: Vec<Change>) -> Result<(), DocsError> {
        // Remote changes are not local facts: the clock only ticks logically.
        let stamp = self.store.next_stamp(self.store.last_stamp().time());
        Ok(self.store.write(stamp, |b| b.change(id, |doc| Ok(doc.apply_changes(changes)?)))?)
    }
    fn adopt(&mut self, id: &DocId, doc: Automerge, saved: Option<Vec<u8>>) -> Result<(), DocsError> {
        let stamp = self.store.next_stamp(self.store.last_stamp().time());
        Ok(self.store.write(stamp, |b| b.adopt(id, doc, saved))?)
    }
    fn adopt_saved(&mut self, id: &DocId, bytes: Vec<u8>, heads: Vec<ChangeHash>) -> Result<(), DocsError> {
        let stamp = self.store.next_stamp(self.store.last_stamp().time());
        Ok(self.store.write(stamp, |b| b.adopt_saved(id, bytes, heads))?)
    }
    fn heads(&mut self, id: &DocId) -> Result<Option<Vec<ChangeHash>>, DocsError> {
        Ok(self.store.heads(id)?)
    }
    fn receive_without_changes(
        &mut self,
        id: &DocId,
        state: &mut State,
        msg: Message,
    ) -> Result<bool, DocsError> {
        Ok(self.store.receive_without_changes(id, state, msg)?)
    }
    fn discard(&mut self, id: &DocId) -> Result<(), DocsError> {
        Ok(self.store.discard(id)?)
    }
    fn load_state(&mut self, id: &DocId) -> Option<State> {
        match self.store.load_sync_state(&self.peer, id) {
            Ok(Some(bytes)) => State::decode(&bytes).ok(),
            Ok(None) => None,
            Err(error) => {
                tracing::warn!(message = "Could not read a sync state; starting afresh.", doc = %id, %error);
                None
            }
        }
    }
    fn save_state(&mut self, id: &DocId, state: &State) {
        if let Err(error) = self.store.save_sync_state(&self.peer, id, &state.encode()) {
            // Losing a sync state costs a longer sync next time, never data.
            tracing::warn!(message = "Could not persist a sync state.", doc = %id, %error);
        }
    }
}

#[cfg(test)]
#[path = "docs_tests.rs"]
mod tests;
