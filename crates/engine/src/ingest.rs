//! Accepting webhook events fast without ever losing one.
//!
//! A verified event that needs no decision before we answer (an ordinary text, a delivery
//! update) is written as an `inbound` job and the webhook answers once that row is committed:
//! the event is durably stored, and the worker does the rest (lead, conversation, message,
//! debounced reply). Concurrent webhooks are group-committed: one task drains everything that
//! arrived meanwhile into a single insert, so a burst costs one write, not one per request.
//!
//! Texts the compliance intake must judge (STOP, START, HELP, plain-language revocations) and
//! provider consent signals never wait here: the engine handles them before answering, so an
//! opt-out is in force the moment the provider hears 200.

use leadline_store::{NewJob, Store};
use std::sync::Arc;
use tokio::sync::{Notify, Semaphore, mpsc, oneshot};

/// The job kind that carries one accepted webhook event.
pub const INBOUND_JOB: &str = "inbound";

/// How many accepted events one commit may carry.
const MAX_BATCH: usize = 256;
/// Batches being committed at once.
const WRITERS: usize = 2;
/// Requests waiting for a commit before new ones wait to be queued (backpressure).
const QUEUE_DEPTH: usize = 4096;

type Pending = (NewJob, oneshot::Sender<Result<(), String>>);

/// The group-commit queue. Cheap to clone; the writer task starts on first use, inside the
/// runtime, and ends when the last handle is dropped.
#[derive(Clone)]
pub struct IngestQueue {
    store: Arc<dyn Store>,
    wake: Arc<Notify>,
    sender: Arc<tokio::sync::OnceCell<mpsc::Sender<Pending>>>,
}

impl std::fmt::Debug for IngestQueue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("IngestQueue")
    }
}

impl IngestQueue {
    /// `wake` is notified after each commit, so an in-process worker starts at once.
    pub fn new(store: Arc<dyn Store>, wake: Arc<Notify>) -> Self {
        Self {
            store,
            wake,
            sender: Arc::new(tokio::sync::OnceCell::new()),
        }
    }

    /// Returns once `job` is committed (or the commit failed: the caller answers 5xx and the
    /// provider retries).
    pub async fn append(&self, job: NewJob) -> anyhow::Result<()> {
        let sender = self
            .sender
            .get_or_init(|| async {
                let (tx, rx) = mpsc::channel(QUEUE_DEPTH);
                tokio::spawn(write_batches(self.store.clone(), self.wake.clone(), rx));
                tx
            })
            .await;
        let (done_tx, done_rx) = oneshot::channel();
        sender
            .send((job, done_tx))
            .await
            .map_err(|_| anyhow::anyhow!("the ingest writer has stopped"))?;
        done_rx
            .await
            .map_err(|_| anyhow::anyhow!("the ingest writer stopped before committing"))?
            .map_err(|e| anyhow::anyhow!("could not store the event: {e}"))
    }
}

async fn write_batches(store: Arc<dyn Store>, wake: Arc<Notify>, mut rx: mpsc::Receiver<Pending>) {
    // Two commits in flight: while one waits for the disk, the next batch is already being
    // written (PostgreSQL overlaps them; SQLite's single writer simply queues the second).
    let in_flight = Arc::new(Semaphore::new(WRITERS));
    loop {
        let Ok(permit) = in_flight.clone().acquire_owned().await else {
            return;
        };
        let mut batch: Vec<Pending> = Vec::with_capacity(MAX_BATCH);
        if rx.recv_many(&mut batch, MAX_BATCH).await == 0 {
            return;
        }
        let store = store.clone();
        let wake = wake.clone();
        tokio::spawn(async move {
            let (jobs, waiters): (Vec<NewJob>, Vec<_>) = batch.into_iter().unzip();
            let result = store.append_jobs(&jobs).await.map_err(|e| e.to_string());
            drop(permit);
            if result.is_ok() {
                wake.notify_one();
            }
            for waiter in waiters {
                // A webhook whose client went away no longer listens; its event is stored anyway.
                let _ = waiter.send(result.clone());
            }
        });
    }
}
