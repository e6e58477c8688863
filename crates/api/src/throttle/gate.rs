//! The bounded pool that checks passwords.

use std::sync::Arc;

use actix_web::web;
use tokio::sync::Semaphore;

use crate::error::ApiError;

/// Runs logins (one bcrypt each, about 60 ms of a core) at most `threads` at a time on
/// the blocking pool, with at most `queue` more waiting without holding a thread. A
/// login beyond that is refused at once with `429`, so a storm of logins neither
/// piles up threads nor takes more than `threads` cores from the other routes.
pub struct LoginGate {
    admitted: Arc<Semaphore>,
    running: Arc<Semaphore>,
}

impl LoginGate {
    /// A gate running `threads` (at least one) logins at once, with `queue` waiting.
    pub fn new(threads: usize, queue: usize) -> Self {
        let threads = threads.max(1);
        Self {
            admitted: Arc::new(Semaphore::new(threads.saturating_add(queue))),
            running: Arc::new(Semaphore::new(threads)),
        }
    }

    /// Runs `login` on the blocking pool once a check is free; `TooManyRequests` at once
    /// when the queue is full. The permits travel with the work, so a client that
    /// hangs up cannot free its place while its bcrypt still runs.
    pub async fn run<T, F>(&self, login: F) -> Result<T, ApiError>
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        let admitted = self
            .admitted
            .clone()
            .try_acquire_owned()
            .map_err(|_| ApiError::TooManyRequests { wait_seconds: 1 })?;
        let running = self
            .running
            .clone()
            .acquire_owned()
            .await
            .map_err(|e| anyhow::anyhow!("the login gate closed: {e}"))?;
        Ok(web::block(move || {
            let _permits = (admitted, running);
            login()
        })
        .await?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::Duration;

    #[actix_web::test]
    async fn no_more_than_the_threads_run_and_the_queue_overflow_is_refused_at_once() {
        let gate = Arc::new(LoginGate::new(2, 3));
        let running = Arc::new(AtomicUsize::new(0));
        let peak = Arc::new(AtomicUsize::new(0));
        let mut calls = Vec::new();
        for _ in 0..8 {
            let (gate, running, peak) = (gate.clone(), running.clone(), peak.clone());
            calls.push(actix_web::rt::spawn(async move {
                gate.run(move || {
                    let now = running.fetch_add(1, Ordering::SeqCst) + 1;
                    peak.fetch_max(now, Ordering::SeqCst);
                    std::thread::sleep(Duration::from_millis(100));
                    running.fetch_sub(1, Ordering::SeqCst);
                })
                .await
            }));
        }
        let mut done = 0;
        let mut refused = 0;
        for call in calls {
            match call.await {
                Ok(Ok(())) => done += 1,
                Ok(Err(ApiError::TooManyRequests { .. })) => refused += 1,
                other => panic!("unexpected {other:?}"),
            }
        }
        assert_eq!((done, refused), (5, 3), "two running and three queued pass");
        assert_eq!(peak.load(Ordering::SeqCst), 2);
    }
}
