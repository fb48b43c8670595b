//! Capturing `tracing` events in tests, and the host's own warnings.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use bifrost_wasm_host::Hook;
use tracing::field::{Field, Visit};
use tracing_subscriber::layer::{Context, SubscriberExt};
use tracing_subscriber::Layer;

use crate::wat::{self, INPUT};

/// One captured event.
#[derive(Debug, Clone)]
pub struct Event {
    pub target: String,
    pub level: tracing::Level,
    pub message: String,
    pub fields: BTreeMap<String, String>,
}

#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<Event>>>);

struct Fields<'a>(&'a mut Event);

impl Visit for Fields<'_> {
    fn record_str(&mut self, field: &Field, value: &str) {
        self.record(field, value.to_string());
    }

    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        self.record(field, format!("{value:?}"));
    }
}

impl Fields<'_> {
    fn record(&mut self, field: &Field, value: String) {
        if field.name() == "message" {
            self.0.message = value;
        } else {
            self.0.fields.insert(field.name().to_string(), value);
        }
    }
}

impl<S: tracing::Subscriber> Layer<S> for Captured {
    fn on_event(&self, event: &tracing::Event<'_>, _ctx: Context<'_, S>) {
        let mut captured = Event {
            target: event.metadata().target().to_string(),
            level: *event.metadata().level(),
            message: String::new(),
            fields: BTreeMap::new(),
        };
        event.record(&mut Fields(&mut captured));
        self.0.lock().unwrap().push(captured);
    }
}

/// Runs `f` with a subscriber that records every event on this thread.
pub fn capture<R>(f: impl FnOnce() -> R) -> (R, Vec<Event>) {
    let captured = Captured::default();
    let subscriber = tracing_subscriber::registry().with(captured.clone());
    let result = tracing::subscriber::with_default(subscriber, f);
    let events = captured.0.lock().unwrap().clone();
    (result, events)
}

#[test]
fn non_zero_cleanup_is_logged_as_a_warning_on_drop() {
    let plugin = crate::load(&wat::module(
        "",
        &[
            &wat::alloc(),
            &wat::echo("pre_hook"),
            r#"(func (export "cleanup") (result i32) (i32.const 7))"#,
        ],
    ));
    let ((), events) = capture(|| {
        let mut instance = plugin.instantiate(None).unwrap();
        instance.call(Hook::PreHook, INPUT).unwrap();
        drop(instance);
    });
    let warning = events
        .iter()
        .find(|e| e.level == tracing::Level::WARN && e.message.contains("cleanup returned 7"))
        .unwrap_or_else(|| panic!("no cleanup warning in {events:#?}"));
    assert_eq!(
        warning.fields.get("plugin").map(String::as_str),
        Some("wat-plugin")
    );
}

#[test]
fn explicit_cleanup_returns_the_plugins_status() {
    let plugin = crate::load(&wat::module(
        "",
        &[
            &wat::alloc(),
            r#"(func (export "cleanup") (result i32) (i32.const 0))"#,
        ],
    ));
    let instance = plugin.instantiate(None).unwrap();
    assert_eq!(instance.cleanup().unwrap(), Some(0));
    let without = crate::load(&wat::module("", &[&wat::alloc()]));
    assert_eq!(without.instantiate(None).unwrap().cleanup().unwrap(), None);
}
