//! `traces`: optional OpenTelemetry export (OTLP over HTTP) of the job, step and chunk spans
//! (`batch.job`, `batch.step`, `batch.chunk`), off unless an endpoint is given
//! (`--otlp-endpoint`, or the standard `OTEL_EXPORTER_OTLP_ENDPOINT`).
//!
//! Only those spans are exported, with their fields (tenant, job, ids, step, chunk number);
//! log events — which may carry text a guest wrote — are not. The protocol is
//! `http/protobuf` unless `OTEL_EXPORTER_OTLP_PROTOCOL=http/json`.

use opentelemetry::trace::TracerProvider as _;
use opentelemetry_otlp::{Protocol, WithExportConfig as _};
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::trace::SdkTracerProvider;
use tracing_subscriber::Layer;
use tracing_subscriber::registry::LookupSpan;

/// A running exporter; [`shutdown`](Exporter::shutdown) flushes what is still buffered.
#[derive(Debug)]
pub struct Exporter {
    provider: SdkTracerProvider,
}

/// The spans that are exported.
fn exported(meta: &tracing::Metadata<'_>) -> bool {
    meta.is_span() && meta.name().starts_with("batch.")
}

/// An exporter to `endpoint` (`http://collector:4318`; `/v1/traces` is appended unless the URL
/// already names a path) and the tracing layer that feeds it.
pub fn exporter<S>(endpoint: &str) -> Result<(Exporter, impl Layer<S>), String>
where
    S: tracing::Subscriber + for<'a> LookupSpan<'a> + Send + Sync,
{
    let url = match endpoint.trim_end_matches('/') {
        e if e.ends_with("/v1/traces") => e.to_owned(),
        e => format!("{e}/v1/traces"),
    };
    if !url.starts_with("http://") && !url.starts_with("https://") {
        return Err(format!(
            "the OTLP endpoint `{endpoint}` is not an http:// URL (such as http://127.0.0.1:4318)"
        ));
    }
    let protocol = match std::env::var("OTEL_EXPORTER_OTLP_PROTOCOL").as_deref() {
        Ok("http/json") => Protocol::HttpJson,
        Ok("http/protobuf") | Err(_) => Protocol::HttpBinary,
        Ok(other) => {
            return Err(format!(
                "OTEL_EXPORTER_OTLP_PROTOCOL `{other}` is not supported; use http/protobuf or http/json"
            ));
        }
    };
    let span_exporter = opentelemetry_otlp::SpanExporter::builder()
        .with_http()
        .with_protocol(protocol)
        .with_endpoint(url)
        .build()
        .map_err(|e| format!("cannot set up the OTLP exporter: {e}"))?;
    let provider = SdkTracerProvider::builder()
        .with_batch_exporter(span_exporter)
        .with_resource(
            Resource::builder()
                .with_service_name("batch-host")
                .with_attribute(opentelemetry::KeyValue::new(
                    "service.version",
                    env!("CARGO_PKG_VERSION"),
                ))
                .build(),
        )
        .build();
    let tracer = provider.tracer("batch-host");
    let layer = tracing_opentelemetry::layer()
        .with_tracer(tracer)
        .with_filter(tracing_subscriber::filter::filter_fn(exported));
    Ok((Exporter { provider }, layer))
}

impl Exporter {
    /// Sends what is buffered and stops the exporter (at the end of the command).
    pub fn shutdown(self) {
        if let Err(e) = self.provider.shutdown() {
            eprintln!("warning: the OTLP exporter could not send every span: {e}");
        }
    }
}
