//! A loopback DynamoDB for the ledger-at-scale benchmark: the operations the ledger uses
//! (BatchGetItem, TransactWriteItems of conditional puts, BatchWriteItem, conditional
//! DeleteItem), spoken as the
//! real JSON protocol to the real AWS SDK, over one in-memory table of any size.
//!
//! moto serves DynamoDB for the tests, but its TransactWriteItems copies the whole table
//! for every call (to roll back), so with 400,000 items each call takes seconds: that would
//! measure moto, not okta-ingest. This fake costs what DynamoDB costs: one hash lookup per
//! key. It also runs on the same cores as the function it serves, so it reads each request
//! into typed fields borrowed from the body, compiles a condition once per request (a claim
//! transaction repeats one 100 times) and moves items into the table without copying them.
//! Point a function at it with `AWS_ENDPOINT_URL_DYNAMODB`.

use std::borrow::Cow;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Router;
use serde::Deserialize;
use serde_json::value::RawValue;
use serde_json::{json, Value};
use tokio::task::JoinHandle;

/// An item's attributes: name to its DynamoDB JSON value, read for its string or number.
type Attributes<'a> = HashMap<Text<'a>, Attr<'a>>;

#[derive(Default)]
struct Table {
    /// By the value of the hash key (`uuid`): each item's DynamoDB JSON text as written (read
    /// again only when a condition or a read needs it).
    items: HashMap<String, Box<str>>,
}

/// The attributes of a stored item.
fn attributes(item: &str) -> Attributes<'_> {
    serde_json::from_str(item).unwrap_or_default()
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

fn key_of(item: &Attributes, key: &str) -> Option<String> {
    item.get(key)?.s.as_deref().map(str::to_owned)
}

async fn handle(State(shared): State<Arc<Shared>>, headers: HeaderMap, body: Bytes) -> Response {
    let started = std::time::Instant::now();
    let response = answer_request(&shared, &headers, &body);
    let took = u64::try_from(started.elapsed().as_nanos()).unwrap_or(u64::MAX);
    shared.busy_ns.fetch_add(took, Ordering::SeqCst);
    response
}

/// Reads the request for its operation (before the table is locked), then applies it.
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
    let table = || shared.table.lock().unwrap_or_else(PoisonError::into_inner);
    let key = &shared.key;
    let result = match operation {
        "BatchGetItem" => read(body).map(|r| batch_get(&table(), key, r)),
        "BatchWriteItem" => read(body).map(|r| batch_write(&mut table(), key, r)),
        "TransactWriteItems" => read(body).and_then(|r| transact_write(&mut table(), key, r)),
        "DeleteItem" => read(body).and_then(|r| delete(&mut table(), key, &r)),
        other => Err(error("UnknownOperationException", other, None)),
    };
    match result {
        Ok(v) => answer(StatusCode::OK, &v),
        Err(Refusal(body)) => answer(StatusCode::BAD_REQUEST, &body),
    }
}

fn read<'a, T: Deserialize<'a>>(body: &'a [u8]) -> Result<T, Refusal> {
    serde_json::from_slice(body).map_err(|e| error("SerializationException", &format!("{e}"), None))
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

/// A string of the request, borrowed where it has no escapes.
#[derive(PartialEq, Eq, Hash)]
struct Text<'a>(Cow<'a, str>);

impl std::ops::Deref for Text<'_> {
    type Target = str;
    fn deref(&self) -> &str {
        &self.0
    }
}

impl std::borrow::Borrow<str> for Text<'_> {
    fn borrow(&self) -> &str {
        &self.0
    }
}

impl<'de: 'a, 'a> Deserialize<'de> for Text<'a> {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Visitor<'a>(std::marker::PhantomData<&'a ()>);
        impl<'de: 'a, 'a> serde::de::Visitor<'de> for Visitor<'a> {
            type Value = Text<'a>;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a string")
            }
            fn visit_borrowed_str<E: serde::de::Error>(self, v: &'de str) -> Result<Text<'a>, E> {
                Ok(Text(Cow::Borrowed(v)))
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Text<'a>, E> {
                Ok(Text(Cow::Owned(v.to_owned())))
            }
        }
        deserializer.deserialize_str(Visitor(std::marker::PhantomData))
    }
}

/// An attribute value as a condition compares it: its string or number form.
#[derive(Deserialize)]
struct Attr<'a> {
    #[serde(rename = "S", borrow, default)]
    s: Option<Text<'a>>,
    #[serde(rename = "N", borrow, default)]
    n: Option<Text<'a>>,
}

/// A batch request: the one table's name to what is asked of it.
#[derive(Deserialize)]
#[serde(
    rename_all = "PascalCase",
    bound(deserialize = "'de: 'a, T: Deserialize<'de>")
)]
struct Batch<'a, T> {
    #[serde(borrow)]
    request_items: HashMap<Text<'a>, T>,
}

type BatchGet<'a> = Batch<'a, Keys<'a>>;
type BatchWrite<'a> = Batch<'a, Vec<WriteRequest<'a>>>;

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Keys<'a> {
    #[serde(borrow, default)]
    keys: Vec<Attributes<'a>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct WriteRequest<'a> {
    #[serde(borrow, default)]
    put_request: Option<Conditional<'a>>,
    #[serde(borrow, default)]
    delete_request: Option<Conditional<'a>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Transact<'a> {
    #[serde(borrow, default)]
    transact_items: Vec<TransactItem<'a>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct TransactItem<'a> {
    #[serde(borrow, default)]
    put: Option<Conditional<'a>>,
}

/// An item a request writes: its text, kept as it is, and its attributes read from it.
struct NewItem<'a> {
    text: &'a RawValue,
    attributes: Attributes<'a>,
}

impl<'de: 'a, 'a> Deserialize<'de> for NewItem<'a> {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = <&'a RawValue>::deserialize(deserializer)?;
        let attributes = serde_json::from_str(text.get()).map_err(serde::de::Error::custom)?;
        Ok(NewItem { text, attributes })
    }
}

/// A put or a delete (`Item` or `Key`), with its condition and the condition's placeholders.
#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Conditional<'a> {
    #[serde(borrow, default)]
    item: Option<NewItem<'a>>,
    #[serde(borrow, default)]
    key: Option<Attributes<'a>>,
    #[serde(borrow, default)]
    condition_expression: Option<Text<'a>>,
    #[serde(borrow, default)]
    expression_attribute_names: HashMap<Text<'a>, Text<'a>>,
    #[serde(borrow, default)]
    expression_attribute_values: HashMap<Text<'a>, Attr<'a>>,
    #[serde(borrow, default)]
    return_values_on_condition_check_failure: Option<Text<'a>>,
}

impl Conditional<'_> {
    /// The attribute a name token stands for (`#s` through `ExpressionAttributeNames`).
    fn name<'t>(&'t self, token: &'t str) -> Result<&'t str, String> {
        if token.starts_with('#') {
            self.expression_attribute_names
                .get(token)
                .map(|n| &**n)
                .ok_or_else(|| format!("{token} is not in ExpressionAttributeNames"))
        } else {
            Ok(token)
        }
    }

    /// Whether `condition` holds for `item` (`None`: no item has the key).
    fn holds(&self, condition: &Expr, item: Option<&Attributes>) -> Result<bool, String> {
        Ok(match condition {
            Expr::Missing(token) => {
                let name = self.name(token)?;
                item.is_none_or(|i| !i.contains_key(name))
            }
            Expr::Compare { name, less, value } => {
                let name = self.name(name)?;
                let expected = self
                    .expression_attribute_values
                    .get(value.as_str())
                    .ok_or_else(|| format!("{value} is not in ExpressionAttributeValues"))?;
                let Some(actual) = item.and_then(|i| i.get(name)) else {
                    return Ok(false);
                };
                let ordering = compare(actual, expected).ok_or("values of different types")?;
                if *less {
                    ordering.is_lt()
                } else {
                    ordering.is_eq()
                }
            }
            Expr::And(a, b) => self.holds(a, item)? & self.holds(b, item)?,
            Expr::Or(a, b) => self.holds(a, item)? | self.holds(b, item)?,
        })
    }
}

fn batch_get(table: &Table, key: &str, request: BatchGet) -> Value {
    let Some((name, keys)) = request.request_items.into_iter().next() else {
        return json!({ "Responses": {}, "UnprocessedKeys": {} });
    };
    let found: Vec<Value> = keys
        .keys
        .iter()
        .filter_map(|k| key_of(k, key))
        .filter_map(|k| table.items.get(&k))
        .filter_map(|text| serde_json::from_str(text).ok())
        .collect();
    json!({ "Responses": { &*name: found }, "UnprocessedKeys": {} })
}

fn batch_write(table: &mut Table, key: &str, request: BatchWrite) -> Value {
    for write in request.request_items.into_values().flatten() {
        if let Some(item) = write.put_request.and_then(|p| p.item) {
            if let Some(k) = key_of(&item.attributes, key) {
                table.items.insert(k, item.text.get().into());
            }
        } else if let Some(k) = write.delete_request.and_then(|d| d.key) {
            if let Some(k) = key_of(&k, key) {
                table.items.remove(&k);
            }
        }
    }
    json!({ "UnprocessedItems": {} })
}

/// A delete, if its condition holds.
fn delete(table: &mut Table, key: &str, request: &Conditional) -> Result<Value, Refusal> {
    let Some(k) = request.key.as_ref().and_then(|k| key_of(k, key)) else {
        return Err(error("ValidationException", "no key", None));
    };
    if let Some(c) = &request.condition_expression {
        let current = table.items.get(&k).map(|text| attributes(text));
        let ok = Expr::compile(c)
            .and_then(|condition| request.holds(&condition, current.as_ref()))
            .map_err(|m| invalid(c, &m))?;
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

fn invalid(condition: &str, message: &str) -> Refusal {
    error(
        "ValidationException",
        &format!("condition {condition:?}: {message}"),
        None,
    )
}

/// Conditional puts, all or nothing, with a reason per item when cancelled. Each distinct
/// condition is compiled once per request (a claim transaction repeats one 100 times).
fn transact_write(table: &mut Table, key: &str, request: Transact) -> Result<Value, Refusal> {
    let items = request.transact_items;
    let mut compiled: Vec<(&str, Expr)> = Vec::new();
    let mut reasons = Vec::with_capacity(items.len());
    let mut puts = Vec::with_capacity(items.len());
    let mut failed = false;
    for entry in &items {
        let Some(put) = &entry.put else {
            return Err(error("ValidationException", "only Put is served", None));
        };
        let Some(item) = &put.item else {
            return Err(error("ValidationException", "a Put without Item", None));
        };
        let Some(k) = key_of(&item.attributes, key) else {
            return Err(error("ValidationException", "item has no key", None));
        };
        let stored = table.items.get(&k);
        let current = stored.map(|text| attributes(text));
        let ok = match &put.condition_expression {
            None => true,
            Some(c) => {
                let at = match compiled.iter().position(|(text, _)| *text == &**c) {
                    Some(at) => at,
                    None => {
                        compiled.push((c, Expr::compile(c).map_err(|m| invalid(c, &m))?));
                        compiled.len() - 1
                    }
                };
                put.holds(&compiled[at].1, current.as_ref())
                    .map_err(|m| invalid(c, &m))?
            }
        };
        if ok {
            reasons.push(json!({ "Code": "None" }));
        } else {
            failed = true;
            let mut reason = json!({ "Code": "ConditionalCheckFailed", "Message": "The conditional request failed" });
            if put.return_values_on_condition_check_failure.as_deref() == Some("ALL_OLD") {
                if let Some(old) = stored.and_then(|text| serde_json::from_str(text).ok()) {
                    reason["Item"] = old;
                }
            }
            reasons.push(reason);
        }
        puts.push(k);
    }
    if failed {
        return Err(error(
            "TransactionCanceledException",
            "Transaction cancelled, please refer cancellation reasons for specific reasons",
            Some(("CancellationReasons", Value::Array(reasons))),
        ));
    }
    for (k, entry) in puts.into_iter().zip(items) {
        if let Some(item) = entry.put.and_then(|p| p.item) {
            table.items.insert(k, item.text.get().into());
        }
    }
    Ok(json!({}))
}

/// A condition expression of the forms the ledger writes: `attribute_not_exists(#a)`,
/// `#a = :v`, `#a < :v`, combined with AND, OR and parentheses.
enum Expr {
    Missing(String),
    Compare {
        name: String,
        less: bool,
        value: String,
    },
    And(Box<Expr>, Box<Expr>),
    Or(Box<Expr>, Box<Expr>),
}

impl Expr {
    fn compile(expression: &str) -> Result<Expr, String> {
        let spaced = expression.replace('(', " ( ").replace(')', " ) ");
        let tokens: Vec<&str> = spaced.split_whitespace().collect();
        let mut parser = Parser { tokens, at: 0 };
        let expr = parser.or()?;
        if parser.at != parser.tokens.len() {
            return Err(format!("unexpected {:?}", parser.tokens.get(parser.at)));
        }
        Ok(expr)
    }
}

struct Parser<'t> {
    tokens: Vec<&'t str>,
    at: usize,
}

impl Parser<'_> {
    fn next(&mut self) -> Option<String> {
        let t = self.tokens.get(self.at).map(|t| (*t).to_owned());
        self.at += 1;
        t
    }

    fn peek_is(&self, word: &str) -> bool {
        self.tokens
            .get(self.at)
            .is_some_and(|t| t.eq_ignore_ascii_case(word))
    }

    fn or(&mut self) -> Result<Expr, String> {
        let mut e = self.and()?;
        while self.peek_is("OR") {
            self.at += 1;
            e = Expr::Or(Box::new(e), Box::new(self.and()?));
        }
        Ok(e)
    }

    fn and(&mut self) -> Result<Expr, String> {
        let mut e = self.term()?;
        while self.peek_is("AND") {
            self.at += 1;
            e = Expr::And(Box::new(e), Box::new(self.term()?));
        }
        Ok(e)
    }

    fn term(&mut self) -> Result<Expr, String> {
        let first = self.next().ok_or("expression ends early")?;
        if first == "(" {
            let e = self.or()?;
            return match self.next().as_deref() {
                Some(")") => Ok(e),
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
            return Ok(Expr::Missing(name));
        }
        let op = self.next().ok_or("comparison without operator")?;
        let value = self.next().ok_or("comparison without value")?;
        let less = match op.as_str() {
            "=" => false,
            "<" => true,
            other => return Err(format!("operator {other} not served")),
        };
        Ok(Expr::Compare {
            name: first,
            less,
            value,
        })
    }
}

fn compare(actual: &Attr, expected: &Attr) -> Option<std::cmp::Ordering> {
    if let (Some(x), Some(y)) = (actual.n.as_deref(), expected.n.as_deref()) {
        let (x, y) = (x.parse::<f64>().ok()?, y.parse::<f64>().ok()?);
        return x.partial_cmp(&y);
    }
    Some(actual.s.as_deref()?.cmp(expected.s.as_deref()?))
}
