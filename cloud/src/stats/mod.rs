//! Statistics: the halls' documents projected into `stats.sqlite` ([`project`]), the queries
//! the pages ask of it ([`query`]), and CSV export ([`csv`]). No HTTP: the pages are `web::stats` (public `/stats`) and `office::stats`
//! (`/office/stats`), sharing `ui::figures`.
//!
//! Every figure follows the definitions in [`onestop_model::stats`], the same the halls show.
//! The projector runs on its own thread, following the sync listener's change notices; the
//! file is rebuildable: delete it and restart (or `onestop-cloud stats-rebuild`).

pub mod csv;
pub mod project;
pub mod query;
#[cfg(test)]
mod tests;

use anyhow::Result;
use onestop_protocol::DocId;
use onestop_store::Store;
use project::Projection;
use rusqlite::Connection;
use std::collections::BTreeSet;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::broadcast;

/// Where the pages read the statistics from.
#[derive(Clone)]
pub enum StatsDb {
    /// `stats.sqlite`: each query opens its own connection (WAL: readers never wait for the
    /// projector).
    File(PathBuf),
    /// One database in memory shared with the projector (tests).
    Memory(Arc<Mutex<Projection>>),
}

impl StatsDb {
    /// The file, set up (so pages can read before the projector's first pass).
    pub fn file(path: PathBuf) -> Result<StatsDb> {
        Projection::open(&path)?;
        Ok(StatsDb::File(path))
    }

    pub fn memory() -> StatsDb {
        StatsDb::Memory(Arc::new(Mutex::new(Projection::open_in_memory().expect("in-memory statistics"))))
    }

    /// Runs `f` on a connection to the statistics (blocking: call from a blocking thread).
    pub fn read<R>(&self, f: impl FnOnce(&Connection) -> Result<R>) -> Result<R> {
        match self {
            StatsDb::File(path) => f(&project::open_reader(path)?),
            StatsDb::Memory(p) => f(&p.lock().unwrap_or_else(|e| e.into_inner()).conn),
        }
    }

    /// The projection to write to (the projector's own connection for a file).
    fn writer(&self) -> Result<Writer> {
        Ok(match self {
            StatsDb::File(path) => Writer::Own(Box::new(Projection::open(path)?)),
            StatsDb::Memory(p) => Writer::Shared(p.clone()),
        })
    }
}

enum Writer {
    Own(Box<Projection>),
    Shared(Arc<Mutex<Projection>>),
}

impl Writer {
    fn with<R>(&mut self, f: impl FnOnce(&mut Projection) -> R) -> R {
        match self {
            Writer::Own(p) => f(p),
            Writer::Shared(p) => f(&mut p.lock().unwrap_or_else(|e| e.into_inner())),
        }
    }
}

/// How long a burst of change notices is gathered before one pass.
const GATHER: Duration = Duration::from_millis(200);

/// Projects `ids` (or every changed document when `None`) and opens the follow-ups of bad
/// ratings in the office database.
pub fn pass(
    writer: &mut Projection,
    store: &Mutex<Store>,
    office: &Mutex<Connection>,
    ids: Option<&BTreeSet<DocId>>,
) -> Result<project::Projected> {
    let catalog = project::read_catalog(store);
    let done = match ids {
        None => writer.catch_up(store, &catalog)?,
        Some(ids) => {
            let mut all = project::Projected::default();
            for id in ids {
                let p = writer.project(store, id, &catalog)?;
                all.docs += p.docs;
                all.events += p.events;
                all.bad_ratings.extend(p.bad_ratings);
            }
            all
        }
    };
    if !done.bad_ratings.is_empty() {
        let db = office.lock().unwrap_or_else(|e| e.into_inner());
        let opened = crate::core::followups::open_for(&db, &done.bad_ratings)?;
        if opened > 0 {
            tracing::info!(message = "Rating follow-ups opened.", opened);
        }
    }
    Ok(done)
}

/// Starts the projector on its own thread: a first pass over every changed document, then
/// one pass per burst of change notices (a lagging receiver catches up with a full pass).
pub fn spawn_projector(
    core: Arc<crate::core::Core>,
    stats: StatsDb,
    mut changes: broadcast::Receiver<DocId>,
) -> std::thread::JoinHandle<()> {
    std::thread::Builder::new()
        .name("stats-projector".into())
        .spawn(move || {
            let mut writer = match stats.writer() {
                Ok(w) => w,
                Err(error) => {
                    tracing::error!(message = "The statistics cannot be written.", error = %format!("{error:#}"));
                    return;
                }
            };
            let mut full = true;
            loop {
                let mut ids = BTreeSet::new();
                if !full {
                    match changes.blocking_recv() {
                        Ok(id) => {
                            ids.insert(id);
                        }
                        Err(broadcast::error::RecvError::Lagged(_)) => full = true,
                        Err(broadcast::error::RecvError::Closed) => return,
                    }
                    std::thread::sleep(GATHER);
                    loop {
                        match changes.try_recv() {
                            Ok(id) => {
                                ids.insert(id);
                            }
                            Err(broadcast::error::TryRecvError::Lagged(_)) => full = true,
                            Err(_) => break,
                        }
                    }
                }
                let started = std::time::Instant::now();
                let done = writer.with(|p| {
                    pass(p, &core.store, &core.db, if full { None } else { Some(&ids) })
                });
                match done {
                    Ok(d) if d.docs > 0 => tracing::debug!(
                        message = "Statistics projected.",
                        docs = d.docs,
                        events = d.events,
                        ms = started.elapsed().as_millis() as u64
                    ),
                    Ok(_) => {}
                    Err(error) => tracing::warn!(message = "Statistics projection failed.", error = %format!("{error:#}")),
                }
                full = false;
            }
        })
        .expect("a thread for the statistics projector")
}

/// `onestop-cloud stats-rebuild`: empties `stats.sqlite` and projects every document of
/// `store` again (follow-ups already opened are kept: opening is idempotent). Best run with
/// the cloud stopped; a running cloud's projector only goes on from the rebuilt cursors.
pub fn rebuild(data: &std::path::Path, store: Store) -> Result<project::Projected> {
    let mut p = Projection::open(&project::stats_path(data))?;
    p.clear()?;
    let store = Mutex::new(store);
    let office = Mutex::new(crate::core::open_office_db(data)?);
    pass(&mut p, &store, &office, None)
}
