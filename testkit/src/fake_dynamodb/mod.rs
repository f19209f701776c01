//! A loopback DynamoDB for the ledger-at-scale benchmark: the operations the ledger uses
//! (BatchGetItem, BatchExecuteStatement of PartiQL INSERTs, TransactWriteItems of
//! conditional puts, BatchWriteItem, conditional DeleteItem, UpdateItem adding to a set),
//! spoken as the
//! real JSON protocol to the real AWS SDK, over one in-memory table of any size.
//!
//! It is the ledger's table in the tests, not moto: moto 5's PartiQL INSERT overwrites an
//! item that exists instead of answering `DuplicateItem` (and its TransactWriteItems copies
//! the whole table for every call, so with 400,000 items each call takes seconds). This fake costs what DynamoDB costs: one hash lookup per
//! key. It also runs on the same cores as the function it serves, so it reads each request
//! into typed fields borrowed from the body, compiles a condition once per request (a claim
//! transaction repeats one 100 times) and moves items into the table without copying them.
//! Point a function at it with `AWS_ENDPOINT_URL_DYNAMODB`.
//!
//! The tests also use it as a table that answers in DynamoDB's own error shapes when told to
//! ([`Fault`]), and it refuses keys over DynamoDB's 2,048 bytes as DynamoDB does.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use axum::Router;
use serde_json::Value;
use tokio::task::JoinHandle;

mod billing;
mod expr;
mod faults;
mod ops;
mod partiql;
mod request;

pub use faults::Fault;
use faults::Scripted;
use ops::{answer, batch_get, batch_write, delete, error, read, transact_write, update, Refusal};
use request::{attributes, key_of};

#[derive(Default)]
struct Table {
    /// By the value of the hash key (`uuid`): each item's DynamoDB JSON text as written (read
    /// again only when a condition or a read needs it).
    items: HashMap<String, Box<str>>,
    /// Write units billed so far ([`billing`]).
    write_units: u64,
}

struct Shared {
    key: String,
    /// The table's name, when it has one: requests naming another table are answered
    /// `ResourceNotFound`, as DynamoDB answers a table that does not exist.
    name: Option<String>,
    table: Mutex<Table>,
    requests: AtomicU64,
    /// Requests answered, by operation (`BatchGetItem`, `TransactWriteItems`, ...).
    operations: Mutex<HashMap<String, u64>>,
    /// Nanoseconds spent reading, deciding and answering requests.
    busy_ns: AtomicU64,
    /// What the table is scripted to do instead of answering.
    faults: Mutex<Vec<Scripted>>,
}

/// The fake; stops when dropped.
pub struct FakeDynamoDb {
    addr: SocketAddr,
    shared: Arc<Shared>,
    server: JoinHandle<()>,
}

impl FakeDynamoDb {
    /// One table (any name) whose hash key is the string attribute `key`.
    pub async fn start(key: &str) -> FakeDynamoDb {
        FakeDynamoDb::serve(key, None).await
    }

    /// One table named `name` whose hash key is the string attribute `key`: a request for
    /// any other table is answered as DynamoDB answers one for a table that does not exist.
    pub async fn start_named(key: &str, name: &str) -> FakeDynamoDb {
        FakeDynamoDb::serve(key, Some(name.to_owned())).await
    }

    async fn serve(key: &str, name: Option<String>) -> FakeDynamoDb {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("fake DynamoDB: cannot bind 127.0.0.1:0");
        let addr = listener
            .local_addr()
            .expect("fake DynamoDB: no local address");
        let shared = Arc::new(Shared {
            key: key.to_owned(),
            name,
            table: Mutex::new(Table::default()),
            requests: AtomicU64::new(0),
            operations: Mutex::new(HashMap::new()),
            busy_ns: AtomicU64::new(0),
            faults: Mutex::new(Vec::new()),
        });
        let app = Router::new().fallback(handle).with_state(shared.clone());
        let server = tokio::spawn(async move {
            if let Err(e) = axum::serve(listener, app).await {
                eprintln!("fake DynamoDB stopped: {e}");
            }
        });
        FakeDynamoDb {
            addr,
            shared,
            server,
        }
    }

    /// The listening address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://127.0.0.1:PORT`, for `AWS_ENDPOINT_URL_DYNAMODB`.
    pub fn endpoint(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// A DynamoDB client aimed at the fake, configured as the functions configure theirs
    /// (no SDK retries: the ledger paces its own), with static `testing` credentials.
    pub async fn client(&self) -> aws_sdk_dynamodb::Client {
        use aws_config::{BehaviorVersion, Region};
        let config = aws_config::defaults(BehaviorVersion::latest())
            .region(Region::new("us-east-1"))
            .credentials_provider(aws_sdk_dynamodb::config::Credentials::new(
                "testing", "testing", None, None, "fake",
            ))
            .endpoint_url(self.endpoint())
            .load()
            .await;
        let config = aws_sdk_dynamodb::config::Builder::from(&config)
            .retry_config(aws_config::retry::RetryConfig::disabled())
            .build();
        aws_sdk_dynamodb::Client::from_conf(config)
    }

    /// Requests answered so far.
    pub fn requests(&self) -> u64 {
        self.shared.requests.load(Ordering::SeqCst)
    }

    /// Requests of `operation` (as in `X-Amz-Target`, e.g. `BatchGetItem`) answered so far.
    pub fn requests_of(&self, operation: &str) -> u64 {
        let operations = self
            .shared
            .operations
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        operations.get(operation).copied().unwrap_or(0)
    }

    /// Write units DynamoDB would have billed for the writes so far (item sizes rounded up
    /// to the KB, transactional writes twice, refused conditional writes included).
    pub fn write_units(&self) -> u64 {
        self.lock().write_units
    }

    /// Every operation answered so far (as in `X-Amz-Target`, e.g. `UpdateItem`).
    pub fn operations(&self) -> Vec<String> {
        let operations = self
            .shared
            .operations
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        operations.keys().cloned().collect()
    }

    /// Time spent handling requests so far, summed over requests: what this process (not the
    /// function under test) spends being DynamoDB, on the same cores.
    pub fn busy(&self) -> std::time::Duration {
        std::time::Duration::from_nanos(self.shared.busy_ns.load(Ordering::SeqCst))
    }

    /// Stores `item` (DynamoDB JSON) directly, as other writers would have.
    pub fn insert(&self, item: Value) {
        let text = item.to_string();
        if let Some(k) = key_of(&attributes(&text), &self.shared.key) {
            self.lock().items.insert(k, text.into());
        }
    }

    /// Items in the table.
    pub fn len(&self) -> usize {
        self.lock().items.len()
    }

    /// Whether the table is empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The string attribute `attribute` of the item whose key is `key`.
    pub fn attribute(&self, key: &str, attribute: &str) -> Option<String> {
        let table = self.lock();
        let attributes = attributes(table.items.get(key)?);
        let value = attributes.get(attribute)?;
        value.s.as_deref().or(value.n.as_deref()).map(str::to_owned)
    }

    /// Every item, as the ledger's view reads it ([`crate::ledger_view`]).
    pub fn ledger_rows(&self) -> Vec<crate::ledger_view::Row> {
        use base64::Engine as _;
        let text = |item: &Value, k: &str| item[k]["S"].as_str().map(str::to_owned);
        self.lock()
            .items
            .values()
            .filter_map(|text| serde_json::from_str::<Value>(text).ok())
            .map(|item| crate::ledger_view::Row {
                key: text(&item, "uuid").unwrap_or_default(),
                state: text(&item, "state"),
                group: text(&item, "group"),
                members: item["members"]["BS"]
                    .as_array()
                    .map(|set| {
                        set.iter()
                            .filter_map(Value::as_str)
                            .filter_map(|b| {
                                base64::engine::general_purpose::STANDARD.decode(b).ok()
                            })
                            .collect()
                    })
                    .unwrap_or_default(),
            })
            .collect()
    }

    /// The state of every uuid as okta-ingest reads the table ([`crate::ledger_view`]).
    pub fn ledger_view(&self) -> HashMap<String, String> {
        crate::ledger_view::view(&self.ledger_rows())
    }

    /// Key to the string attribute `attribute`, for every item that has it.
    pub fn column(&self, attribute: &str) -> HashMap<String, String> {
        self.lock()
            .items
            .iter()
            .filter_map(|(k, i)| {
                let value = attributes(i).remove(attribute)?.s?;
                Some((k.clone(), value.0.into_owned()))
            })
            .collect()
    }

    /// Plays `fault` on the next `times` requests it applies to (`None`: until
    /// [`FakeDynamoDb::clear_faults`]), after the faults already scripted.
    pub fn script(&self, fault: Fault, times: Option<u32>) {
        self.faults().push(Scripted { fault, left: times });
    }

    /// Answers truthfully again.
    pub fn clear_faults(&self) {
        self.faults().clear();
    }

    /// Every claim's lease runs out now, as if its claimer had died long ago.
    pub fn run_out_claims(&self) {
        let mut table = self.lock();
        for text in table.items.values_mut() {
            let Ok(mut item) = serde_json::from_str::<Value>(text) else {
                continue;
            };
            if item["state"]["S"] == "claimed" {
                item["lease"] = serde_json::json!({ "N": "0" });
                *text = item.to_string().into();
            }
        }
    }

    fn faults(&self) -> std::sync::MutexGuard<'_, Vec<Scripted>> {
        self.shared
            .faults
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Table> {
        self.shared
            .table
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }
}

impl Drop for FakeDynamoDb {
    fn drop(&mut self) {
        self.server.abort();
    }
}

async fn handle(State(shared): State<Arc<Shared>>, headers: HeaderMap, body: Bytes) -> Response {
    let operation = headers
        .get("x-amz-target")
        .and_then(|v| v.to_str().ok())
        .and_then(|t| t.rsplit('.').next())
        .unwrap_or_default()
        .to_owned();
    let fault = {
        let mut script = shared.faults.lock().unwrap_or_else(PoisonError::into_inner);
        faults::take(&mut script, &operation)
    };
    if let Some(Fault::Slow { by, .. }) = &fault {
        tokio::time::sleep(*by).await;
    }
    let started = std::time::Instant::now();
    let response = match fault.as_ref().and_then(|f| f.answer(&body)) {
        Some((status, body)) => {
            shared.requests.fetch_add(1, Ordering::SeqCst);
            count(&shared, &operation);
            answer(
                StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_REQUEST),
                &body,
            )
        }
        None => {
            let applied = answer_request(&shared, &operation, &body, fault.as_ref());
            match &fault {
                Some(Fault::LoseAnswers { error, .. }) => {
                    let (status, body) = faults::refusal(error);
                    answer(
                        StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_REQUEST),
                        &body,
                    )
                }
                _ => applied,
            }
        }
    };
    let took = u64::try_from(started.elapsed().as_nanos()).unwrap_or(u64::MAX);
    shared.busy_ns.fetch_add(took, Ordering::SeqCst);
    if let Some(Fault::AnswerLate { by, .. }) = &fault {
        tokio::time::sleep(*by).await;
    }
    response
}

fn count(shared: &Shared, operation: &str) {
    *shared
        .operations
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .entry(operation.to_owned())
        .or_default() += 1;
}

/// Reads the request for its operation (before the table is locked), then applies it.
fn answer_request(
    shared: &Shared,
    operation: &str,
    body: &Bytes,
    fault: Option<&Fault>,
) -> Response {
    shared.requests.fetch_add(1, Ordering::SeqCst);
    count(shared, operation);
    let table = || shared.table.lock().unwrap_or_else(PoisonError::into_inner);
    let key = &shared.key;
    let name = shared.name.as_deref();
    let result = match operation {
        "BatchExecuteStatement" => partiql::batch_execute(&mut table(), key, name, body, fault),
        _ if name.is_some_and(|name| names_another_table(body, name)) => Err(error(
            "ResourceNotFoundException",
            "Requested resource not found",
            None,
        )),
        "BatchGetItem" => read(body).and_then(|r| batch_get(&table(), key, r)),
        "BatchWriteItem" => read(body).and_then(|r| batch_write(&mut table(), key, r)),
        "TransactWriteItems" => read(body).and_then(|r| transact_write(&mut table(), key, r)),
        "DeleteItem" => read(body).and_then(|r| delete(&mut table(), key, &r)),
        "UpdateItem" => update(&mut table(), key, body),
        other => Err(error("UnknownOperationException", other, None)),
    };
    match result {
        Ok(v) => answer(StatusCode::OK, &v),
        Err(Refusal(body)) => answer(StatusCode::BAD_REQUEST, &body),
    }
}

/// Whether a request names a table other than `name` (`TableName`, `RequestItems`, a
/// transaction's puts).
fn names_another_table(body: &[u8], name: &str) -> bool {
    let request: Value = serde_json::from_slice(body).unwrap_or_default();
    let mut named: Vec<&str> = Vec::new();
    named.extend(request["TableName"].as_str());
    if let Some(items) = request["RequestItems"].as_object() {
        named.extend(items.keys().map(String::as_str));
    }
    if let Some(items) = request["TransactItems"].as_array() {
        named.extend(items.iter().filter_map(|i| i["Put"]["TableName"].as_str()));
    }
    named.iter().any(|n| *n != name)
}
