//! Structured JSON logs for CloudWatch, one object per line.

use tracing_subscriber::EnvFilter;

/// Targets that log wire traffic at debug/trace, which can include credentials
/// (GetSecretValue responses, request headers). They are capped whatever `RUST_LOG` says.
const WIRE_LEVEL_TARGETS: [&str; 6] = [
    "aws_smithy_runtime",
    "aws_smithy_http_client",
    "aws_sdk_secretsmanager",
    "hyper",
    "hyper_util",
    "reqwest",
];

/// Installs the JSON subscriber, filtered by `RUST_LOG` (default `info`).
pub fn init() {
    let mut filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    for target in WIRE_LEVEL_TARGETS {
        if let Ok(d) = format!("{target}=info").parse() {
            filter = filter.add_directive(d);
        }
    }
    tracing_subscriber::fmt()
        .json()
        .flatten_event(true)
        .with_current_span(false)
        .with_span_list(false)
        .with_target(false)
        .with_ansi(false)
        .with_env_filter(filter)
        .init();
}
