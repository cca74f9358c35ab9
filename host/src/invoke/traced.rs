//! A chain element's span: what it records about the component that ran
//! and how its run began. [`Handler::run`] opens it; the guarded body (or
//! the error the guest ended in) closes it with the outcome.

use super::handler::Handler;
use crate::request::RequestTag;
use crate::telemetry::trace::Span;
use opentelemetry::trace::SpanKind;
use opentelemetry::KeyValue;

impl Handler {
    /// This element's span inside `tag`'s, while tracing is on: it ends
    /// when the guest's response body does (see `guarded`), or with the
    /// error the guest ended in before it answered.
    pub(super) fn span(&self, tag: &RequestTag) -> Option<Span> {
        let parent = tag.trace.as_ref()?;
        let role = if self.middleware {
            "middleware"
        } else {
            "handler"
        };
        let attributes = vec![
            KeyValue::new("switchyard.component", self.component.to_string()),
            KeyValue::new("switchyard.role", role),
            KeyValue::new("switchyard.route", self.route.to_string()),
            KeyValue::new("switchyard.generation", tag.generation as i64),
            KeyValue::new("switchyard.world", self.world.to_string()),
            KeyValue::new("code.file.path", self.file.display().to_string()),
            KeyValue::new(
                "switchyard.instance",
                if self.pool.is_some() {
                    "pooled"
                } else {
                    "fresh"
                },
            ),
        ];
        let name = format!("{role} {}", self.component);
        Some(parent.child(name, SpanKind::Internal, attributes))
    }
}
