//! `make bench`: the delivery ledger at the scale of the largest Okta orgs.
//!
//! The release okta-push binary with its ledger in DynamoDB (the testkit's, see
//! `FakeDynamoDb`) behind a latency proxy adding 10 ms to every request, S3 (moto) behind
//! another. The table already holds 400,000 delivered uuids (about a day of an org with
//! 10 million events a day is 10 million; every lookup is by key, so the size only has to
//! be large enough to show it does not matter), and other containers keep writing between
//! invocations. Measured: a cold container's first 6 MB invocation against the same on an
//! empty table (wall, ledger requests), warm invocations, and peak RSS over 100 warm
//! invocations of mixed sizes with events spread over the whole 24 h window.

use std::time::{Duration, Instant};

use okta_ingest_testkit::Moto;
use serde_json::json;
use time::OffsetDateTime;

mod common;
use common::{sqs_batch, sqs_payload, wait_rss, Deployed, MAX_PAYLOAD};

const DELAY: Duration = Duration::from_millis(10);
const ALREADY: usize = 400_000;
/// What other containers write between two invocations of this one.
const OTHERS_PER_INVOCATION: usize = 20_000;

/// A delivered item of another container, as the ledger wrote one before groups (still
/// read as delivered; every lookup is by key, so its layout does not change the cost).
fn delivered(uuid: &str) -> serde_json::Value {
    json!({
        "uuid": {"S": uuid},
        "state": {"S": "delivered"},
        "expires": {"N": "4102444800"},
    })
}

/// Where the ledger is, and what it already holds.
#[derive(Clone, Copy)]
enum Store {
    /// A DynamoDB table with this many delivered uuids.
    Table(usize),
    /// Objects in the state bucket: this many objects of 1,000 uuids in the current hour.
    Objects(usize),
}

struct Rig {
    deployed: Deployed,
    store: Store,
    written: usize,
}

impl Rig {
    /// A cold container over a ledger already holding what `store` says.
    async fn start(store: Store) -> Rig {
        let (table, written) = match store {
            Store::Table(n) => (true, n),
            Store::Objects(n) => (false, n * 1000),
        };
        let deployed = Deployed::start(DELAY, table, async |moto, table| match store {
            Store::Table(n) => {
                for i in 0..n {
                    table.insert(delivered(&format!("other-{i:09}")));
                }
            }
            Store::Objects(n) => write_ledger_objects(moto, 0, n).await,
        })
        .await;
        Rig {
            deployed,
            store,
            written,
        }
    }

    /// Other containers deliver `n` more events (in the current hour).
    async fn others_write(&mut self, n: usize) {
        match self.store {
            Store::Table(_) => {
                for i in self.written..self.written + n {
                    self.deployed
                        .table
                        .insert(delivered(&format!("other-{i:09}")));
                }
            }
            Store::Objects(_) => {
                write_ledger_objects(&self.deployed.moto, self.written / 1000, n / 1000).await;
            }
        }
        self.written += n;
    }

    /// One invocation: wall, ledger requests, S3 requests; asserts every event went out.
    async fn invoke(&self, payload: String, events: usize) -> (Duration, u64, u64) {
        let (ledger_before, s3_before) = (
            self.deployed.table_proxy.requests(),
            self.deployed.s3_proxy.requests(),
        );
        let accepted_before: usize = self.forwarded();
        let started = Instant::now();
        let answer = self
            .deployed
            .runtime
            .invoke(payload, Duration::from_secs(60))
            .await
            .response();
        let wall = started.elapsed();
        assert_eq!(
            answer["batchItemFailures"].as_array().map(Vec::len),
            Some(0),
            "{answer}"
        );
        assert_eq!(self.forwarded() - accepted_before, events, "all sent, once");
        (
            wall,
            self.deployed.table_proxy.requests() - ledger_before,
            self.deployed.s3_proxy.requests() - s3_before,
        )
    }

    fn forwarded(&self) -> usize {
        self.deployed
            .destination
            .accepted()
            .iter()
            .map(|r| r.json_array_items().len())
            .sum()
    }
}

/// Objects `from..from + n` of 1,000 uuids each in the current hour's partition, in the format
/// `state/ledger.rs` writes, as other containers would have written them.
async fn write_ledger_objects(moto: &Moto, from: usize, n: usize) {
    let s3 = moto.s3().await;
    let now = OffsetDateTime::now_utc();
    let prefix = format!(
        "ledger/{:04}/{:02}/{:02}/{:02}/",
        now.year(),
        u8::from(now.month()),
        now.day(),
        now.hour()
    );
    for o in from..from + n {
        let body: String = (0..1000)
            .map(|i| format!("\"other-{o:05}-{i:04}\"\n"))
            .collect();
        s3.put_object()
            .bucket("bench-state")
            .key(format!("{prefix}1764500000000-bench{o:04}-000000.jsonl"))
            .body(body.into_bytes().into())
            .send()
            .await
            .expect("moto: put ledger object");
    }
}

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(run());
}

async fn run() {
    println!(
        "delivery ledger, {} ms added to every DynamoDB and S3 request:",
        DELAY.as_millis()
    );
    for (name, empty, full) in [
        ("DynamoDB", Store::Table(0), Store::Table(ALREADY)),
        (
            "S3 objects",
            Store::Objects(0),
            Store::Objects(ALREADY / 1000),
        ),
    ] {
        at_scale(name, empty, full).await;
    }
}

/// Cold and warm invocations on an empty ledger and on one holding [`ALREADY`] uuids, and
/// memory over 100 warm invocations of mixed sizes.
async fn at_scale(name: &str, empty: Store, full: Store) {
    let (payload, events) = sqs_payload(MAX_PAYLOAD, "cold");
    let rig = Rig::start(empty).await;
    let (wall_empty, ledger_empty, s3_empty) = rig.invoke(payload.clone(), events).await;
    drop(rig);
    let mut full = Rig::start(full).await;
    let (wall_full, ledger_full, s3_full) = full.invoke(payload, events).await;
    println!(
        "  {name}: cold container, one 6 MB invocation ({events} events): empty ledger {:.0} ms \
         wall, {ledger_empty} DynamoDB + {s3_empty} S3 requests; ledger with {ALREADY} uuids in \
         this hour {:.0} ms wall, {ledger_full} DynamoDB + {s3_full} S3 requests",
        wall_empty.as_secs_f64() * 1e3,
        wall_full.as_secs_f64() * 1e3,
    );

    let mut walls = Vec::new();
    let mut requests = 0;
    for n in 0..5 {
        full.others_write(OTHERS_PER_INVOCATION).await;
        let (payload, events) = sqs_payload(MAX_PAYLOAD, &format!("warm{n}"));
        let (wall, ledger, s3) = full.invoke(payload, events).await;
        walls.push(wall.as_secs_f64() * 1e3);
        requests += ledger + s3;
    }
    println!(
        "  {name}: warm, 5 x 6 MB while others add {OTHERS_PER_INVOCATION} uuids between \
         invocations: {:.0}-{:.0} ms wall, {:.1} state requests per invocation",
        walls.iter().copied().fold(f64::MAX, f64::min),
        walls.iter().copied().fold(0.0, f64::max),
        requests as f64 / 5.0
    );

    // 100 warm invocations of mixed sizes, events anywhere in the last 24 hours.
    let mut rng = fastrand::Rng::with_seed(13);
    let mut total = 0;
    let mut requests = 0;
    for n in 0..100 {
        full.others_write(OTHERS_PER_INVOCATION / 10).await;
        let now = OffsetDateTime::now_utc();
        let ages: Vec<i64> = (0..2000).map(|_| rng.i64(1..86_000)).collect();
        let max_events = rng.usize(1..1_900);
        let (payload, events) = sqs_batch(MAX_PAYLOAD, max_events, &format!("mix{n}-"), |i| {
            now - time::Duration::seconds(ages[i % ages.len()])
        });
        total += events;
        let (_, ledger, s3) = full.invoke(payload, events).await;
        requests += ledger + s3;
    }
    let peak = wait_rss(&full.deployed.function).await;
    println!(
        "  {name}: 100 warm invocations of 1-1,900 events ({total} in all) published across \
         24 h: peak RSS {:.1} MiB, {:.2} state requests per 100 events",
        peak as f64 / 1024.0,
        requests as f64 * 100.0 / total as f64
    );
    full.deployed.function.stop().await;
}
