//! Start-up warnings, tracing events and metrics per interface.

mod support;

use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};

use metrics::{Counter, Gauge, Histogram, Key, KeyName, Metadata, Recorder, SharedString, Unit};
use session_plus::{FieldRules, Interface, SessionManager};
use support::*;

#[test]
fn overlapping_field_rules_warn_at_start() {
    let logs = Captured::default();
    let writer = logs.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_writer(move || writer.clone())
        .with_ansi(false)
        .finish();
    tracing::subscriber::with_default(subscriber, || {
        SessionManager::builder()
            .keys(session_plus::Key::generate())
            .interface(Interface::secure_cookie("a").fields(FieldRules::include(["user_id"])))
            .interface(Interface::secure_cookie("b").fields(FieldRules::include(["user_id", "x"])))
            .build()
            .unwrap();
    });
    let text = logs.text();
    assert!(text.contains("WARN"), "{text}");
    assert!(
        text.contains("user_id") && text.contains("\"a\"") && text.contains("\"b\""),
        "{text}"
    );
    assert!(
        !text.contains("field=x"),
        "only real overlaps are reported: {text}"
    );
}

/// Records the name and labels of every metric touched.
#[derive(Clone, Default)]
struct Names(Arc<Mutex<Vec<String>>>);

impl Names {
    fn note(&self, kind: &str, key: &Key) {
        let mut labels: Vec<String> = key
            .labels()
            .map(|l| format!("{}={}", l.key(), l.value()))
            .collect();
        labels.sort();
        self.0
            .lock()
            .unwrap()
            .push(format!("{kind} {} {}", key.name(), labels.join(",")));
    }
}

impl Recorder for Names {
    fn describe_counter(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
    fn describe_gauge(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
    fn describe_histogram(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
    fn register_counter(&self, key: &Key, _: &Metadata<'_>) -> Counter {
        self.note("counter", key);
        Counter::noop()
    }
    fn register_gauge(&self, key: &Key, _: &Metadata<'_>) -> Gauge {
        self.note("gauge", key);
        Gauge::noop()
    }
    fn register_histogram(&self, key: &Key, _: &Metadata<'_>) -> Histogram {
        self.note("histogram", key);
        Histogram::noop()
    }
}

#[test]
fn backend_calls_are_measured_per_interface_and_operation() {
    let names = Names::default();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    metrics::with_local_recorder(&names, || {
        rt.block_on(async {
            let store = FaultyStore::new();
            let app = app(seed_manager(store.clone(), session_plus::Key::generate()));
            let mut jar = Jar::default();
            send(&app, "POST", "/seed-login", &mut jar).await;
            send(&app, "GET", "/get/user_id", &mut jar).await;
            store.fail_load.store(true, Ordering::SeqCst);
            send(&app, "GET", "/get/user_id", &mut jar).await;
        })
    });
    let seen = names.0.lock().unwrap().clone();
    for expected in [
        "histogram session_plus_backend_seconds interface=session,op=create",
        "histogram session_plus_backend_seconds interface=session,op=load",
        "counter session_plus_backend_errors_total interface=session,op=load",
    ] {
        assert!(
            seen.iter().any(|s| s == expected),
            "missing {expected}: {seen:?}"
        );
    }
    assert!(
        !seen.iter().any(|s| s.contains("interface=csrf")),
        "cookie interfaces make no backend calls: {seen:?}"
    );
}
