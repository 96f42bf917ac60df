//! Logs (one JSON object per line, or human-readable on a terminal, filtered by `KURZ_LOG` /
//! `RUST_LOG`) and, when built with the `otlp` feature and `KURZ_OTLP_ENDPOINT` is set,
//! traces exported over OTLP/HTTP.

use crate::config::{LogFormat, LogSettings};
use std::io::IsTerminal;
use tracing_subscriber::EnvFilter;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

/// Keeps the trace exporter alive; [`Telemetry::shutdown`] flushes it.
#[must_use = "dropping the handle does not flush traces; call shutdown()"]
#[derive(Default)]
pub struct Telemetry {
    #[cfg(feature = "otlp")]
    traces: Option<opentelemetry_sdk::trace::SdkTracerProvider>,
}

impl Telemetry {
    /// Sends the spans still buffered (at exit).
    pub fn shutdown(self) {
        #[cfg(feature = "otlp")]
        if let Some(provider) = self.traces
            && let Err(err) = provider.shutdown()
        {
            eprintln!("kurz: flushing traces failed: {err}");
        }
    }
}

/// Installs the global subscriber, logging to stdout (serving). A second call is ignored,
/// so tests and embedders may call it freely.
pub fn init_logs(settings: &LogSettings) -> Telemetry {
    install(settings, std::io::stdout, std::io::stdout().is_terminal())
}

/// As [`init_logs`], logging to stderr: for one-shot commands, whose stdout is their JSON
/// summary (a script reading it must not meet a log line).
pub fn init_command_logs(settings: &LogSettings) -> Telemetry {
    install(settings, std::io::stderr, std::io::stderr().is_terminal())
}

fn install<W>(settings: &LogSettings, writer: W, terminal: bool) -> Telemetry
where
    W: for<'w> tracing_subscriber::fmt::MakeWriter<'w> + Send + Sync + Clone + 'static,
{
    let filter = settings
        .filter
        .as_deref()
        .map(EnvFilter::new)
        .or_else(|| EnvFilter::try_from_default_env().ok())
        .unwrap_or_else(|| EnvFilter::new("info"));
    let json = match settings.log_format {
        LogFormat::Json => true,
        LogFormat::Pretty => false,
        LogFormat::Auto => !terminal,
    };
    let (json_layer, pretty_layer) = if json {
        let layer = tracing_subscriber::fmt::layer()
            .with_writer(writer)
            .json()
            .flatten_event(true)
            .with_current_span(true)
            .with_span_list(false);
        (Some(layer), None)
    } else {
        (
            None,
            Some(tracing_subscriber::fmt::layer().with_writer(writer)),
        )
    };
    let (traces_layer, telemetry) = traces(settings);
    let _ = tracing_subscriber::registry()
        .with(filter)
        .with(json_layer)
        .with(pretty_layer)
        .with(traces_layer)
        .try_init();
    if settings.otlp_endpoint.is_some() && !cfg!(feature = "otlp") {
        tracing::warn!(
            "KURZ_OTLP_ENDPOINT is set but this build has no OTLP support (feature `otlp`)"
        );
    }
    telemetry
}

#[cfg(feature = "otlp")]
fn traces<S>(settings: &LogSettings) -> (Option<impl tracing_subscriber::Layer<S>>, Telemetry)
where
    S: tracing::Subscriber + for<'span> tracing_subscriber::registry::LookupSpan<'span>,
{
    use opentelemetry::trace::TracerProvider as _;
    use opentelemetry_otlp::WithExportConfig;

    let Some(endpoint) = settings.otlp_endpoint.as_deref() else {
        return (None, Telemetry::default());
    };
    let exporter = match opentelemetry_otlp::SpanExporter::builder()
        .with_http()
        .with_endpoint(endpoint)
        .build()
    {
        Ok(exporter) => exporter,
        Err(err) => {
            eprintln!("kurz: traces disabled, the OTLP exporter failed: {err}");
            return (None, Telemetry::default());
        }
    };
    let resource = opentelemetry_sdk::Resource::builder()
        .with_service_name("kurz")
        .build();
    let provider = opentelemetry_sdk::trace::SdkTracerProvider::builder()
        .with_batch_exporter(exporter)
        .with_resource(resource)
        .build();
    let layer = tracing_opentelemetry::layer().with_tracer(provider.tracer("kurz"));
    (
        Some(layer),
        Telemetry {
            traces: Some(provider),
        },
    )
}

#[cfg(not(feature = "otlp"))]
fn traces(_settings: &LogSettings) -> (Option<tracing_subscriber::layer::Identity>, Telemetry) {
    (None, Telemetry::default())
}
