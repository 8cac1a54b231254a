//! Timeouts, spans, logs and metrics around every backend call.

use std::future::Future;
use std::sync::Arc;
use std::time::Instant;

use tracing::Instrument as _;

use crate::manager::{Kind, Resolved};
use crate::{Error, RecordKey, Result, SessionId};

pub(crate) fn record_key(prefix: &Arc<str>, id: &SessionId) -> RecordKey {
    RecordKey::new(prefix.clone(), id.clone())
}

/// Run one backend call under the interface's timeout, with a span, a
/// debug-level event (interface, operation, latency; never ids or values) and
/// metrics.
///
/// One timer per call: when the store promises to end every call by itself
/// within the interface's timeout ([`SessionStore::call_timeout`](crate::store::SessionStore::call_timeout)),
/// its timer fires first anyway, so none is added here. The span is only
/// entered on each poll when a subscriber wants it.
pub(crate) async fn timed<T>(
    r: &Resolved,
    op: &'static str,
    fut: impl Future<Output = Result<T>>,
) -> Result<T> {
    let name = r.name();
    let start = Instant::now();
    let limit = r.config.timeout;
    let self_bounded = match &r.kind {
        Kind::Store { store, .. } => store.call_timeout().is_some_and(|own| own <= limit),
        Kind::Cookie(_) => false,
    };
    let call = async move {
        if self_bounded {
            Ok(fut.await)
        } else {
            tokio::time::timeout(limit, fut).await
        }
    };
    let span = tracing::debug_span!("session_plus.backend", interface = name, op);
    let outcome = if span.is_disabled() {
        call.await
    } else {
        call.instrument(span).await
    };
    let res = match outcome {
        Ok(res) => res.map_err(|e| e.in_interface(name)),
        Err(_) => Err(Error::timeout(name, limit)),
    };
    let elapsed = start.elapsed();
    let labels = [("interface", r.label.clone()), ("op", op.into())];
    metrics::histogram!("session_plus_backend_seconds", &labels).record(elapsed.as_secs_f64());
    match &res {
        Ok(_) => tracing::debug!(
            interface = name,
            op,
            latency_us = elapsed.as_micros() as u64,
            "session backend call"
        ),
        Err(e) => {
            metrics::counter!("session_plus_backend_errors_total", &labels).increment(1);
            tracing::warn!(interface = name, op, error = %e, "session backend call failed");
        }
    }
    res
}

#[cfg(test)]
mod tests {
    //! Who times a store call: the core, unless the store promises a bound
    //! of its own at most the interface's timeout. Paused tokio time: the
    //! slow store's sleep and the timers advance instantly and in order.

    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::Arc;
    use std::time::Duration;

    use crate::store::{Capabilities, Changes, Record, SessionStore};
    use crate::{
        FieldRules, Interface, Key, MemoryStore, RecordKey, SessionDriver, SessionManager,
    };

    /// A memory store whose loads take `delay` once armed, and which claims
    /// `claim` as its call bound (possibly a lie: that is how the test sees
    /// whether the core still times the call).
    #[derive(Debug)]
    struct Slow {
        inner: MemoryStore,
        claim: Option<Duration>,
        armed: AtomicBool,
    }

    const DELAY: Duration = Duration::from_millis(400);
    const INTERFACE_TIMEOUT: Duration = Duration::from_millis(100);

    #[async_trait::async_trait]
    impl SessionStore for Slow {
        fn capabilities(&self) -> Capabilities {
            self.inner.capabilities()
        }
        fn call_timeout(&self) -> Option<Duration> {
            self.claim
        }
        async fn load(&self, key: &RecordKey) -> crate::Result<Option<Record>> {
            if self.armed.load(Ordering::SeqCst) {
                tokio::time::sleep(DELAY).await;
            }
            self.inner.load(key).await
        }
        async fn create(&self, key: &RecordKey, record: &Record) -> crate::Result<bool> {
            self.inner.create(key, record).await
        }
        async fn update(&self, key: &RecordKey, changes: &Changes) -> crate::Result<bool> {
            self.inner.update(key, changes).await
        }
        async fn supersede(&self, key: &RecordKey, until: i64) -> crate::Result<Option<Record>> {
            self.inner.supersede(key, until).await
        }
        async fn delete(&self, key: &RecordKey) -> crate::Result<()> {
            self.inner.delete(key).await
        }
    }

    /// A slow load with a store claiming `claim`: what the handler gets.
    async fn slow_read(claim: Option<Duration>) -> crate::Result<Option<u32>> {
        let store = Arc::new(Slow {
            inner: MemoryStore::new(),
            claim,
            armed: AtomicBool::new(false),
        });
        let manager = Arc::new(
            SessionManager::builder()
                .keys(Key::generate())
                .interface(
                    Interface::store("s", store.clone())
                        .fields(FieldRules::All)
                        .timeout(INTERFACE_TIMEOUT),
                )
                .build()
                .unwrap(),
        );
        let d = SessionDriver::new(manager.clone(), std::iter::empty::<&[u8]>());
        d.session().insert("n", 7).await.unwrap();
        let out = d.finish().await;
        assert!(out.error.is_none(), "{:?}", out.error);
        let cookie = out.cookie_header();
        store.armed.store(true, Ordering::SeqCst);
        let d = SessionDriver::new(manager, [cookie.as_bytes()]);
        let got = d.session().get::<u32>("n").await;
        got
    }

    #[tokio::test(start_paused = true)]
    async fn the_core_times_a_store_without_a_bound() {
        let e = slow_read(None).await.unwrap_err();
        assert!(e.is_timeout() && e.is_service_unavailable(), "{e:?}");
    }

    #[tokio::test(start_paused = true)]
    async fn a_bound_longer_than_the_interface_timeout_never_lengthens_it() {
        let e = slow_read(Some(Duration::from_secs(3600)))
            .await
            .unwrap_err();
        assert!(e.is_timeout() && e.is_service_unavailable(), "{e:?}");
    }

    #[tokio::test(start_paused = true)]
    async fn a_store_bounding_its_own_calls_gets_no_second_timer() {
        // The store claims 50 ms but (lying, for the test) takes 400 ms: the
        // load still succeeds, so the core added no 100 ms timer of its own.
        // A real store keeps its promise; the Redis store's fault tests
        // check that it does.
        let got = slow_read(Some(Duration::from_millis(50))).await.unwrap();
        assert_eq!(got, Some(7));
        // Exactly the interface's timeout counts as bounded too.
        assert_eq!(slow_read(Some(INTERFACE_TIMEOUT)).await.unwrap(), Some(7));
    }
}
