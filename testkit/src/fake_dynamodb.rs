//! A loopback DynamoDB for the ledger-at-scale benchmark: the operations the ledger uses
//! (BatchGetItem, TransactWriteItems of conditional puts, BatchWriteItem, conditional
//! DeleteItem), spoken as the
//! real JSON protocol to the real AWS SDK, over one in-memory table of any size.
//!
//! moto serves DynamoDB for the tests, but its TransactWriteItems copies the whole table
//! for every call (to roll back), so with 400,000 items each call takes seconds: that would
//! measure moto, not okta-ingest. This fake costs what DynamoDB costs: one hash lookup per
//! key. Point a function at it with `AWS_ENDPOINT_URL_DYNAMODB`.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Router;
use serde_json::{json, Map, Value};
use tokio::task::JoinHandle;

/// One item: attribute name to its DynamoDB JSON value (`{"S": "..."}`, `{"N": "..."}`).
type Item = Map<String, Value>;

#[derive(Default)]
struct Table {
    /// By the value of the hash key (`uuid`).
    items: HashMap<String, Item>,
}

struct Shared {
    key: String,
    table: Mutex<Table>,
    requests: AtomicU64,
    /// Requests answered, by operation (`BatchGetItem`, `TransactWriteItems`, ...).
    operations: Mutex<HashMap<String, u64>>,
    /// Nanoseconds spent reading, deciding and answering requests.
    busy_ns: AtomicU64,
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
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("fake DynamoDB: cannot bind 127.0.0.1:0");
        let addr = listener
            .local_addr()
            .expect("fake DynamoDB: no local address");
        let shared = Arc::new(Shared {
            key: key.to_owned(),
            table: Mutex::new(Table::default()),
            requests: AtomicU64::new(0),
            operations: Mutex::new(HashMap::new()),
            busy_ns: AtomicU64::new(0),
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

    /// Time spent handling requests so far, summed over requests: what this process (not the
    /// function under test) spends being DynamoDB, on the same cores.
    pub fn busy(&self) -> std::time::Duration {
        std::time::Duration::from_nanos(self.shared.busy_ns.load(Ordering::SeqCst))
    }

    /// Stores `item` (DynamoDB JSON) directly, as other writers would have.
    pub fn insert(&self, item: Value) {
        let Value::Object(item) = item else { return };
        if let Some(k) = key_of(&item, &self.shared.key) {
            self.lock().items.insert(k, item);
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
        self.lock()
            .items
            .get(key)
            .and_then(|i| i.get(attribute))
            .and_then(|v| v["S"].as_str().or(v["N"].as_str()))
            .map(str::to_owned)
    }

    /// Key to the string attribute `attribute`, for every item that has it.
    pub fn column(&self, attribute: &str) -> HashMap<String, String> {
        self.lock()
            .items
            .iter()
            .filter_map(|(k, i)| Some((k.clone(), i.get(attribute)?["S"].as_str()?.to_owned())))
            .collect()
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

fn key_of(item: &Item, key: &str) -> Option<String> {
    item.get(key)?["S"].as_str().map(str::to_owned)
}

async fn handle(State(shared): State<Arc<Shared>>, headers: HeaderMap, body: Bytes) -> Response {
    let started = std::time::Instant::now();
    let response = answer_request(&shared, &headers, &body);
    let took = u64::try_from(started.elapsed().as_nanos()).unwrap_or(u64::MAX);
    shared.busy_ns.fetch_add(took, Ordering::SeqCst);
    response
}

fn answer_request(shared: &Shared, headers: &HeaderMap, body: &Bytes) -> Response {
    shared.requests.fetch_add(1, Ordering::SeqCst);
    let target = headers
        .get("x-amz-target")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    let operation = target.rsplit('.').next().unwrap_or_default();
    *shared
        .operations
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .entry(operation.to_owned())
        .or_default() += 1;
    let Ok(request) = serde_json::from_slice::<Value>(body) else {
        return answer(
            StatusCode::BAD_REQUEST,
            &error("SerializationException", "not JSON", None).0,
        );
    };
    let mut table = shared.table.lock().unwrap_or_else(PoisonError::into_inner);
    let key = &shared.key;
    let result = match operation {
        "BatchGetItem" => Ok(batch_get(&table, key, &request)),
        "BatchWriteItem" => Ok(batch_write(&mut table, key, &request)),
        "TransactWriteItems" => transact_write(&mut table, key, &request),
        "DeleteItem" => delete(&mut table, key, &request),
        other => Err(error("UnknownOperationException", other, None)),
    };
    match result {
        Ok(v) => answer(StatusCode::OK, &v),
        Err(Refusal(body)) => answer(StatusCode::BAD_REQUEST, &body),
    }
}

/// An error answer's JSON body (sent with status 400).
struct Refusal(Value);

fn error(kind: &str, message: &str, extra: Option<(&str, Value)>) -> Refusal {
    let mut body = json!({
        "__type": format!("com.amazonaws.dynamodb.v20120810#{kind}"),
        "message": message,
    });
    if let Some((k, v)) = extra {
        body[k] = v;
    }
    Refusal(body)
}

fn answer(status: StatusCode, body: &Value) -> Response {
    (
        status,
        [("content-type", "application/x-amz-json-1.0")],
        body.to_string(),
    )
        .into_response()
}

/// The one table's entry of a `RequestItems` map.
fn only_table(request: &Value) -> Option<&Value> {
    request["RequestItems"].as_object()?.values().next()
}

fn table_name(request: &Value) -> String {
    request["RequestItems"]
        .as_object()
        .and_then(|m| m.keys().next().cloned())
        .unwrap_or_default()
}

fn batch_get(table: &Table, key: &str, request: &Value) -> Value {
    let keys = only_table(request)
        .and_then(|t| t["Keys"].as_array())
        .cloned()
        .unwrap_or_default();
    let found: Vec<&Item> = keys
        .iter()
        .filter_map(|k| k.as_object().and_then(|k| key_of(k, key)))
        .filter_map(|k| table.items.get(&k))
        .collect();
    json!({ "Responses": { table_name(request): found }, "UnprocessedKeys": {} })
}

fn batch_write(table: &mut Table, key: &str, request: &Value) -> Value {
    let writes = only_table(request)
        .and_then(Value::as_array)
        .map_or(&[][..], Vec::as_slice);
    for write in writes {
        if let Some(Value::Object(item)) = write["PutRequest"].get("Item") {
            if let Some(k) = key_of(item, key) {
                table.items.insert(k, item.clone());
            }
        } else if let Some(Value::Object(k)) = write["DeleteRequest"].get("Key") {
            if let Some(k) = key_of(k, key) {
                table.items.remove(&k);
            }
        }
    }
    json!({ "UnprocessedItems": {} })
}

/// A delete, if its condition holds.
fn delete(table: &mut Table, key: &str, request: &Value) -> Result<Value, Refusal> {
    let Some(k) = request["Key"].as_object().and_then(|k| key_of(k, key)) else {
        return Err(error("ValidationException", "no key", None));
    };
    if let Some(c) = request["ConditionExpression"].as_str() {
        let ok = Condition::new(c, request)
            .eval(table.items.get(&k))
            .map_err(|m| {
                error(
                    "ValidationException",
                    &format!("condition {c:?}: {m}"),
                    None,
                )
            })?;
        if !ok {
            return Err(error(
                "ConditionalCheckFailedException",
                "The conditional request failed",
                None,
            ));
        }
    }
    table.items.remove(&k);
    Ok(json!({}))
}

/// Conditional puts, all or nothing, with a reason per item when cancelled.
fn transact_write(table: &mut Table, key: &str, request: &Value) -> Result<Value, Refusal> {
    let items = request["TransactItems"]
        .as_array()
        .map_or(&[][..], Vec::as_slice);
    let mut reasons = Vec::with_capacity(items.len());
    let mut puts = Vec::with_capacity(items.len());
    let mut failed = false;
    for entry in items {
        let put = &entry["Put"];
        let Some(item) = put["Item"].as_object() else {
            return Err(error("ValidationException", "only Put is served", None));
        };
        let Some(k) = key_of(item, key) else {
            return Err(error("ValidationException", "item has no key", None));
        };
        let current = table.items.get(&k);
        let ok = match put["ConditionExpression"].as_str() {
            None => true,
            Some(c) => Condition::new(c, put).eval(current).map_err(|m| {
                error(
                    "ValidationException",
                    &format!("condition {c:?}: {m}"),
                    None,
                )
            })?,
        };
        if ok {
            reasons.push(json!({ "Code": "None" }));
        } else {
            failed = true;
            let mut reason = json!({ "Code": "ConditionalCheckFailed", "Message": "The conditional request failed" });
            if put["ReturnValuesOnConditionCheckFailure"] == "ALL_OLD" {
                if let Some(old) = current {
                    reason["Item"] = Value::Object(old.clone());
                }
            }
            reasons.push(reason);
        }
        puts.push((k, item.clone()));
    }
    if failed {
        return Err(error(
            "TransactionCanceledException",
            "Transaction cancelled, please refer cancellation reasons for specific reasons",
            Some(("CancellationReasons", Value::Array(reasons))),
        ));
    }
    for (k, item) in puts {
        table.items.insert(k, item);
    }
    Ok(json!({}))
}

/// A condition expression of the forms the ledger writes: `attribute_not_exists(#a)`,
/// `#a = :v`, `#a < :v`, combined with AND, OR and parentheses.
struct Condition<'a> {
    tokens: Vec<String>,
    at: usize,
    names: &'a Value,
    values: &'a Value,
}

impl<'a> Condition<'a> {
    /// `request` holds the expression's `ExpressionAttributeNames` and `...Values`.
    fn new(expression: &str, request: &'a Value) -> Self {
        let spaced = expression.replace('(', " ( ").replace(')', " ) ");
        Condition {
            tokens: spaced.split_whitespace().map(str::to_owned).collect(),
            at: 0,
            names: &request["ExpressionAttributeNames"],
            values: &request["ExpressionAttributeValues"],
        }
    }

    fn eval(&mut self, item: Option<&Item>) -> Result<bool, String> {
        let v = self.or(item)?;
        if self.at != self.tokens.len() {
            return Err(format!("unexpected {:?}", self.tokens.get(self.at)));
        }
        Ok(v)
    }

    fn next(&mut self) -> Option<String> {
        let t = self.tokens.get(self.at).cloned();
        self.at += 1;
        t
    }

    fn peek(&self) -> Option<&str> {
        self.tokens.get(self.at).map(String::as_str)
    }

    fn or(&mut self, item: Option<&Item>) -> Result<bool, String> {
        let mut v = self.and(item)?;
        while self.peek().is_some_and(|t| t.eq_ignore_ascii_case("OR")) {
            self.at += 1;
            let rhs = self.and(item)?;
            v = v || rhs;
        }
        Ok(v)
    }

    fn and(&mut self, item: Option<&Item>) -> Result<bool, String> {
        let mut v = self.term(item)?;
        while self.peek().is_some_and(|t| t.eq_ignore_ascii_case("AND")) {
            self.at += 1;
            let rhs = self.term(item)?;
            v = v && rhs;
        }
        Ok(v)
    }

    fn term(&mut self, item: Option<&Item>) -> Result<bool, String> {
        let first = self.next().ok_or("expression ends early")?;
        if first == "(" {
            let v = self.or(item)?;
            return match self.next().as_deref() {
                Some(")") => Ok(v),
                _ => Err("missing )".into()),
            };
        }
        if first == "attribute_not_exists" {
            let (Some(open), Some(name), Some(close)) = (self.next(), self.next(), self.next())
            else {
                return Err("attribute_not_exists needs (name)".into());
            };
            if open != "(" || close != ")" {
                return Err("attribute_not_exists needs (name)".into());
            }
            let name = self.name(&name)?;
            return Ok(item.is_none_or(|i| !i.contains_key(&name)));
        }
        let name = self.name(&first)?;
        let op = self.next().ok_or("comparison without operator")?;
        let value = self.next().ok_or("comparison without value")?;
        let expected = &self.values[value.as_str()];
        let actual = item.and_then(|i| i.get(&name));
        let Some(actual) = actual else {
            return Ok(false);
        };
        let ordering = compare(actual, expected).ok_or("values of different types")?;
        match op.as_str() {
            "=" => Ok(ordering.is_eq()),
            "<" => Ok(ordering.is_lt()),
            other => Err(format!("operator {other} not served")),
        }
    }

    fn name(&self, token: &str) -> Result<String, String> {
        if token.starts_with('#') {
            self.names[token]
                .as_str()
                .map(str::to_owned)
                .ok_or_else(|| format!("{token} is not in ExpressionAttributeNames"))
        } else {
            Ok(token.to_owned())
        }
    }
}

fn compare(a: &Value, b: &Value) -> Option<std::cmp::Ordering> {
    if let (Some(x), Some(y)) = (a["N"].as_str(), b["N"].as_str()) {
        let (x, y) = (x.parse::<f64>().ok()?, y.parse::<f64>().ok()?);
        return x.partial_cmp(&y);
    }
    Some(a["S"].as_str()?.cmp(b["S"].as_str()?))
}
