//! Loopback fakes for okta-ingest tests, `make demo` and the benchmark.
//!
//! Everything here binds 127.0.0.1 on an ephemeral port, so several tests can
//! run side by side without stepping on each other.

pub mod destination;
pub mod fake_dynamodb;
pub mod fake_okta;
pub mod fault_proxy;
pub mod function;
pub mod lake;
pub mod latency_proxy;
pub mod ledger_view;
pub mod local_fakes;
pub mod loopback_http;
pub mod moto;
pub mod oauth_keys;
pub mod okta_events;
pub mod runtime_api;
pub mod serial_proxy;

pub use destination::{Behaviour, ReceivedRequest, RecordingDestination};
pub use fake_dynamodb::FakeDynamoDb;
pub use fake_okta::{FakeOkta, OAuthSettings, TokenRequest};
pub use fault_proxy::{Fault, FaultProxy};
pub use function::{binary_path, FunctionProcess};
pub use latency_proxy::LatencyProxy;
pub use local_fakes::LocalFakes;
pub use moto::Moto;
pub use oauth_keys::{ec_key, rsa_key, TestKey};
pub use runtime_api::{Invocation, RuntimeApi};
pub use serial_proxy::SerialProxy;
