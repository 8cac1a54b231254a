//! Timeouts, spans, logs and metrics around every backend call.

use std::future::Future;
use std::sync::Arc;
use std::time::Instant;

use tracing::Instrument as _;

use crate::manager::Resolved;
use crate::{Error, RecordKey, Result, SessionId};

pub(crate) fn record_key(prefix: &Arc<str>, id: &SessionId) -> RecordKey {
    RecordKey::new(prefix.clone(), id.clone())
}

/// Run one backend call under the interface's timeout, with a span, a
/// debug-level event (interface, operation, latency; never ids or values) and
/// metrics.
pub(crate) async fn timed<T>(
    r: &Resolved,
    op: &'static str,
    fut: impl Future<Output = Result<T>>,
) -> Result<T> {
    let name = r.name();
    let start = Instant::now();
    let span = tracing::debug_span!("session_plus.backend", interface = name, op);
    let res = match tokio::time::timeout(r.config.timeout, fut.instrument(span)).await {
        Ok(res) => res.map_err(|e| e.in_interface(name)),
        Err(_) => Err(Error::timeout(name, r.config.timeout)),
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
