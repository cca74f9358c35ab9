//! Starting trace export: where spans go (OTLP over HTTP/protobuf), who
//! they say sent them, and the queue between the request path and the
//! collector, whose losses `/metrics` counts.
//!
//! The standard OpenTelemetry variables configure it, as they do any
//! OpenTelemetry SDK: `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT` (used as is) or
//! `OTEL_EXPORTER_OTLP_ENDPOINT` (`/v1/traces` appended), else the config
//! file's `[telemetry] otlp_endpoint` (a base URL like the latter); neither
//! set, or `OTEL_SDK_DISABLED=true`, or `OTEL_TRACES_EXPORTER=none`, and
//! nothing starts. The SDK itself reads `OTEL_TRACES_SAMPLER`/`_ARG`
//! (default `parentbased_always_on`), `OTEL_RESOURCE_ATTRIBUTES`,
//! `OTEL_BSP_*` and `OTEL_EXPORTER_OTLP_HEADERS`.
//!
//! The request path never waits for the collector. Ended spans go to the
//! SDK's batch processor, whose thread hands a batch to the exporter every
//! `OTEL_BSP_SCHEDULE_DELAY` (5 s) or 512 spans; the export itself runs as
//! a task on the server's runtime over opentelemetry-http's hyper client
//! (our hyper-rustls connector, webpki roots), bounded by
//! `OTEL_EXPORTER_OTLP_TIMEOUT` (10 s). The SDK's processor counts what it
//! drops only privately, so [`Counted`] sits in front of it with the same
//! queue bound (`OTEL_BSP_MAX_QUEUE_SIZE`, 2048) and counts every span it
//! turns away, and [`Exporter`] counts every span a failed export lost:
//! both as [`TRACE_SPANS_DROPPED`](crate::telemetry::TRACE_SPANS_DROPPED).

use super::TRACER;
use crate::telemetry::{TRACE_SPANS_DROPPED, TRACE_SPANS_EXPORTED};
use opentelemetry::trace::TracerProvider as _;
use opentelemetry::{Context, InstrumentationScope, KeyValue};
use opentelemetry_otlp::{WithExportConfig as _, WithHttpConfig as _};
use opentelemetry_sdk::error::{OTelSdkError, OTelSdkResult};
use opentelemetry_sdk::trace::{
    BatchConfigBuilder, BatchSpanProcessor, SdkTracerProvider, SpanData, SpanExporter,
    SpanProcessor,
};
use opentelemetry_sdk::Resource;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// What the config file says about traces (`[telemetry]`); the standard
/// variables win over it.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Settings {
    /// `otlp_endpoint`: the collector's base URL (`http://host:4318`).
    pub otlp_endpoint: Option<String>,
    /// `service_name`: the `service.name` spans carry (default `switchyard`).
    pub service_name: Option<String>,
}

/// Why export could not start: a setting that names something this build
/// cannot do, or an endpoint that is not a URL.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("{variable}={value}: {why}")]
    Unsupported {
        variable: &'static str,
        value: String,
        why: &'static str,
    },
    #[error("trace export to {endpoint}: {reason}")]
    Exporter { endpoint: String, reason: String },
}

/// Export running: end it with [`Exporting::shutdown`] so the last spans
/// are sent.
pub struct Exporting {
    provider: SdkTracerProvider,
    endpoint: String,
}

impl Exporting {
    /// The URL spans are posted to.
    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    /// Send what is queued (waiting at most `timeout`), then stop. Blocks:
    /// call it off the runtime's worker threads (the export runs on them).
    pub fn shutdown(self, timeout: Duration) {
        if let Err(error) = self.provider.shutdown_with_timeout(timeout) {
            tracing::warn!(endpoint = %self.endpoint, "trace export did not finish: {error}");
        }
    }
}

/// Where traces go, when anything says they go somewhere.
fn endpoint(settings: &Settings) -> Option<String> {
    let var = |name| std::env::var(name).ok().filter(|v| !v.trim().is_empty());
    let base = |url: String| format!("{}/v1/traces", url.trim_end_matches('/'));
    var("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
        .or_else(|| var("OTEL_EXPORTER_OTLP_ENDPOINT").map(base))
        .or_else(|| {
            let url = settings.otlp_endpoint.clone()?;
            Some(base(url))
        })
}

/// The first of `names` that is set, with its value.
fn first_set(names: &[&'static str]) -> Option<(&'static str, String)> {
    names.iter().find_map(|&name| {
        let value = std::env::var(name).ok()?;
        (!value.trim().is_empty()).then(|| (name, value.trim().to_string()))
    })
}

/// Refuse what this build cannot do, or say export is switched off.
fn switched_on() -> Result<bool, StartError> {
    if first_set(&["OTEL_SDK_DISABLED"]).is_some_and(|(_, v)| v.eq_ignore_ascii_case("true")) {
        return Ok(false);
    }
    if let Some((variable, value)) = first_set(&["OTEL_TRACES_EXPORTER"]) {
        match value.as_str() {
            "none" => return Ok(false),
            "otlp" => {}
            _ => {
                return Err(StartError::Unsupported {
                    variable,
                    value,
                    why:
                        "Switchyard exports traces over OTLP only (`otlp`, or `none` for no export)",
                })
            }
        }
    }
    let protocol = [
        "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL",
        "OTEL_EXPORTER_OTLP_PROTOCOL",
    ];
    if let Some((variable, value)) = first_set(&protocol) {
        if value != "http/protobuf" {
            return Err(StartError::Unsupported {
                variable,
                value,
                why: "Switchyard exports OTLP over http/protobuf only (the collector's port 4318)",
            });
        }
    }
    Ok(true)
}

/// A number of milliseconds or items from the first of `names` set.
fn number(names: &[&'static str], default: u64) -> u64 {
    first_set(names)
        .and_then(|(_, value)| value.parse().ok())
        .unwrap_or(default)
}

/// Start exporting traces if an endpoint is set; `None` if none is (or
/// export is switched off). Call it once, on the server's runtime.
pub fn start(settings: &Settings) -> Result<Option<Exporting>, StartError> {
    if !switched_on()? {
        return Ok(None);
    }
    let Some(endpoint) = endpoint(settings) else {
        return Ok(None);
    };
    let failed = |reason: String| StartError::Exporter {
        endpoint: endpoint.clone(),
        reason,
    };
    let timeout = Duration::from_millis(number(
        &[
            "OTEL_EXPORTER_OTLP_TRACES_TIMEOUT",
            "OTEL_EXPORTER_OTLP_TIMEOUT",
        ],
        10_000,
    ));
    let client = opentelemetry_http::hyper::HyperClient::new(connector(), timeout, None);
    let otlp = opentelemetry_otlp::SpanExporter::builder()
        .with_http()
        .with_endpoint(endpoint.clone())
        .with_timeout(timeout)
        .with_http_client(client)
        .build()
        .map_err(|e| failed(e.to_string()))?;
    let runtime = tokio::runtime::Handle::try_current()
        .map_err(|_| failed("not started on a Tokio runtime".into()))?;

    let queue = number(&["OTEL_BSP_MAX_QUEUE_SIZE"], 2048).max(1) as usize;
    let pending = Arc::new(AtomicUsize::new(0));
    let exporter = Exporter {
        inner: Arc::new(otlp),
        runtime,
        pending: pending.clone(),
        failing: AtomicBool::new(false),
        endpoint: endpoint.clone(),
    };
    let batch = BatchConfigBuilder::default()
        .with_max_queue_size(queue)
        .build();
    let processor = Counted {
        inner: BatchSpanProcessor::builder(exporter)
            .with_batch_config(batch)
            .build(),
        pending,
        queue,
    };
    let provider = SdkTracerProvider::builder()
        .with_span_processor(processor)
        .with_resource(resource(settings))
        .build();
    let scope = InstrumentationScope::builder("switchyard")
        .with_version(env!("CARGO_PKG_VERSION"))
        .build();
    if TRACER.set(provider.tracer_with_scope(scope)).is_err() {
        return Err(failed("trace export was already started".into()));
    }
    Ok(Some(Exporting { provider, endpoint }))
}

/// Who the spans say sent them: `OTEL_SERVICE_NAME` (or `service.name` in
/// `OTEL_RESOURCE_ATTRIBUTES`), else `service_name`, else `switchyard`.
fn resource(settings: &Settings) -> Resource {
    let attributes = std::env::var("OTEL_RESOURCE_ATTRIBUTES").unwrap_or_default();
    let names = |key: &str| attributes.split(',').any(|kv| kv.trim().starts_with(key));
    let mut resource = Resource::builder();
    if first_set(&["OTEL_SERVICE_NAME"]).is_none() && !names("service.name=") {
        let name = settings.service_name.as_deref().unwrap_or("switchyard");
        resource = resource.with_service_name(name.to_string());
    }
    if !names("service.version=") {
        resource =
            resource.with_attribute(KeyValue::new("service.version", env!("CARGO_PKG_VERSION")));
    }
    resource.build()
}

/// `http://` and `https://` collectors, verified against the webpki roots
/// as upstreams are.
fn connector() -> hyper_rustls::HttpsConnector<hyper_util::client::legacy::connect::HttpConnector> {
    use hyper_rustls::ConfigBuilderExt as _;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let tls = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map(|builder| builder.with_webpki_roots().with_no_client_auth());
    let builder = hyper_rustls::HttpsConnectorBuilder::new();
    match tls {
        Ok(tls) => builder.with_tls_config(tls),
        // ring supports the default versions; keep plain HTTP working anyway.
        Err(_) => builder.with_webpki_roots(),
    }
    .https_or_http()
    .enable_http1()
    .build()
}

/// The batch processor behind a queue bound it cannot exceed, so every
/// span it would have dropped is counted here instead.
#[derive(Debug)]
struct Counted {
    inner: BatchSpanProcessor,
    /// Spans accepted and not yet handed to the exporter.
    pending: Arc<AtomicUsize>,
    queue: usize,
}

impl SpanProcessor for Counted {
    fn on_start(&self, span: &mut opentelemetry_sdk::trace::Span, cx: &Context) {
        self.inner.on_start(span, cx);
    }

    fn on_end(&self, span: SpanData) {
        if !span.span_context.is_sampled() {
            return;
        }
        // The inner queue holds at most what is pending, so it never fills
        // itself: a span past the bound is dropped (and counted) here.
        if self.pending.fetch_add(1, Ordering::AcqRel) >= self.queue {
            self.pending.fetch_sub(1, Ordering::AcqRel);
            metrics::counter!(TRACE_SPANS_DROPPED, "reason" => "queue_full").increment(1);
            return;
        }
        self.inner.on_end(span);
    }

    fn force_flush(&self) -> OTelSdkResult {
        self.inner.force_flush()
    }

    fn shutdown_with_timeout(&self, timeout: Duration) -> OTelSdkResult {
        self.inner.shutdown_with_timeout(timeout)
    }

    fn set_resource(&mut self, resource: &Resource) {
        self.inner.set_resource(resource);
    }
}

/// The OTLP exporter, run on the server's runtime, counting what it sends
/// and what it loses.
#[derive(Debug)]
struct Exporter {
    inner: Arc<opentelemetry_otlp::SpanExporter>,
    runtime: tokio::runtime::Handle,
    pending: Arc<AtomicUsize>,
    /// Whether the last export failed, so a collector that is down is
    /// reported once, and its return once.
    failing: AtomicBool,
    endpoint: String,
}

impl SpanExporter for Exporter {
    async fn export(&self, batch: Vec<SpanData>) -> OTelSdkResult {
        let spans = batch.len();
        self.pending.fetch_sub(spans, Ordering::AcqRel);
        let inner = self.inner.clone();
        // The SDK's thread waits here, never a request: the HTTP exchange
        // itself is a task on the server's runtime.
        let sent = self
            .runtime
            .spawn(async move { inner.export(batch).await })
            .await
            .unwrap_or_else(|join| Err(OTelSdkError::InternalFailure(join.to_string())));
        match &sent {
            Ok(()) => {
                metrics::counter!(TRACE_SPANS_EXPORTED).increment(spans as u64);
                if self.failing.swap(false, Ordering::Relaxed) {
                    tracing::info!(endpoint = %self.endpoint, "trace export works again");
                }
            }
            Err(error) => {
                metrics::counter!(TRACE_SPANS_DROPPED, "reason" => "export_failed")
                    .increment(spans as u64);
                if !self.failing.swap(true, Ordering::Relaxed) {
                    tracing::warn!(
                        endpoint = %self.endpoint,
                        "trace export failed, dropping spans until it works again \
                         (counted in {TRACE_SPANS_DROPPED}): {error}"
                    );
                }
            }
        }
        sent
    }

    fn shutdown_with_timeout(&self, timeout: Duration) -> OTelSdkResult {
        self.inner.shutdown_with_timeout(timeout)
    }

    fn set_resource(&mut self, resource: &Resource) {
        // Called once, when the provider is built: before any export could
        // hold a second reference.
        if let Some(inner) = Arc::get_mut(&mut self.inner) {
            inner.set_resource(resource);
        }
    }
}
