//! `make bench` (directory): the targets of issue 22, with the release okta-pull binary.
//!
//! okta-pull runs warm behind the local Lambda Runtime API, reading the fake Okta's directory,
//! its state in moto S3, its ledger in the testkit's DynamoDB, its records to a recording
//! destination. Three measurements:
//!
//! 1. A full snapshot of a large org (100,000 users, 5,000 groups of 20, 1,000 apps of 20),
//!    with budgets too high to bind and 10 s per invocation (the template gives 300 s, and at
//!    Okta's budgets the snapshot takes many of those; unbound, it fits one 60 s invocation,
//!    so 10 s makes it resume across several, as it does in production): requests, records,
//!    invocations, wall, CPU and peak RSS; and, computed from the requests per bucket, how long
//!    the same snapshot takes at Okta's default budgets with a 50% share and
//!    `RATE_LIMIT_HEADROOM` 0.25.
//! 2. A smaller org under a 50% share of budgets per 5 s window: no 429, and how much of the
//!    share it used. Okta's headers have whole-second resolution, so a wait may overshoot the
//!    reset by up to a second: 20% of a 5 s window, under 2% of a real minute.
//! 3. After the large snapshot, edits and one changes run: exactly those records, few requests.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use okta_ingest_testkit::fake_okta::{Bucket, DirectoryEndpoint, DirectoryRateLimits, FakeOkta};
use okta_ingest_testkit::{
    binary_path, FakeDynamoDb, FunctionProcess, Invocation, Moto, RecordingDestination, RuntimeApi,
};
use serde::Deserialize;
use serde_json::Value;

mod common;
#[path = "directory/large_org.rs"]
mod large_org;
use common::{cpu_seconds, wait_rss};
use large_org::large_org;

/// The Lambda timeout each invocation is given here (the template gives okta-pull 300 s).
const INVOCATION: Duration = Duration::from_secs(60);
/// The same for the large snapshot's invocations, so that it resumes across several.
const SNAPSHOT_INVOCATION: Duration = Duration::from_secs(10);
/// The template's timeout, for what the snapshot takes at Okta's budgets.
const TEMPLATE_TIMEOUT_S: f64 = 300.0;
const HEADROOM: f64 = 0.25;
/// Okta's Workforce budgets per minute, and the share an app gets by default.
const OKTA_PER_MINUTE: [(Bucket, &str, f64); 3] = [
    (Bucket::Users, "users", 600.0),
    (Bucket::Groups, "groups", 500.0),
    (Bucket::Apps, "apps", 100.0),
];
const OKTA_SHARE: f64 = 0.5;
/// Invocations after which a snapshot that has not completed is reported as such.
const MAX_INVOCATIONS: usize = 60;
const RSS_TARGET_MIB: f64 = 128.0;
const CHANGES_REQUESTS_TARGET: usize = 20;

const ENDPOINTS: [(DirectoryEndpoint, &str); 9] = [
    (DirectoryEndpoint::Users, "/api/v1/users"),
    (DirectoryEndpoint::Groups, "/api/v1/groups"),
    (DirectoryEndpoint::GroupUsers, "/api/v1/groups/{id}/users"),
    (DirectoryEndpoint::Apps, "/api/v1/apps"),
    (DirectoryEndpoint::AppUsers, "/api/v1/apps/{id}/users"),
    (DirectoryEndpoint::AppGroups, "/api/v1/apps/{id}/groups"),
    (
        DirectoryEndpoint::RoleAssignees,
        "/api/v1/iam/assignees/users",
    ),
    (DirectoryEndpoint::UserRoles, "/api/v1/users/{id}/roles"),
    (DirectoryEndpoint::GroupRoles, "/api/v1/groups/{id}/roles"),
];

/// The part of a directory record that says what it is.
#[derive(Deserialize)]
struct Record {
    okta_directory: Header,
}

#[derive(Deserialize)]
struct Header {
    kind: String,
    action: String,
    #[serde(default)]
    id: String,
}

/// `(kind, action, id)` of every record sent.
type Sent = Vec<(String, String, String)>;

/// okta-pull with everything it talks to on loopback.
struct World {
    okta: FakeOkta,
    table: FakeDynamoDb,
    destination: RecordingDestination,
    runtime: RuntimeApi,
    function: FunctionProcess,
    moto: Moto,
}

impl World {
    async fn start(limits: DirectoryRateLimits) -> World {
        let okta = FakeOkta::start().await;
        okta.set_tokens(&["bench-token"]);
        okta.set_directory_rate_limits(limits);
        let moto = Moto::start().await;
        moto.create_bucket("bench-state").await;
        let secret = moto.create_secret("bench/okta", "bench-token").await;
        let table = FakeDynamoDb::start("uuid").await;
        let destination = RecordingDestination::start().await;
        let runtime = RuntimeApi::start().await;
        let mut env = moto.function_env();
        env.extend(
            [
                ("OKTA_DOMAIN", okta.base_url()),
                ("ALLOW_INSECURE_HTTP", "true".to_owned()),
                ("OKTA_TOKEN_SECRET_ARN", secret),
                ("STATE_BUCKET", "bench-state".to_owned()),
                ("LEDGER_TABLE", "bench-ledger".to_owned()),
                ("AWS_ENDPOINT_URL_DYNAMODB", table.endpoint()),
                ("DESTINATION_URL", destination.url()),
                ("RATE_LIMIT_HEADROOM", HEADROOM.to_string()),
                ("RUST_LOG", "warn".to_owned()),
            ]
            .map(|(k, v)| (k.to_owned(), v)),
        );
        let function = FunctionProcess::spawn(&binary_path("okta-pull"), &runtime, &env).await;
        World {
            okta,
            table,
            destination,
            runtime,
            function,
            moto,
        }
    }

    fn pid(&self) -> String {
        self.function
            .pid()
            .map(|p| p.to_string())
            .unwrap_or_default()
    }

    /// One `{"directory": run}` invocation: its summary (`None` if it failed), wall and CPU.
    async fn invoke(&self, run: &str, timeout: Duration) -> (Option<Value>, Duration, f64) {
        let pid = self.pid();
        let cpu = cpu_seconds(&pid);
        let started = Instant::now();
        let outcome = self
            .runtime
            .invoke(format!("{{\"directory\":\"{run}\"}}"), timeout)
            .await;
        let wall = started.elapsed();
        let cpu = cpu_seconds(&pid) - cpu;
        match outcome {
            Invocation::Response(v) => (Some(v), wall, cpu),
            other => {
                println!("  MISSED: a {run} invocation failed: {other:?}");
                (None, wall, cpu)
            }
        }
    }

    /// The records the destination accepted since the last call (then forgotten, so a
    /// snapshot of 200,000 records is not held twice).
    fn take_sent(&self) -> Sent {
        let mut sent = Vec::new();
        for request in self.destination.accepted() {
            match serde_json::from_slice::<Vec<Record>>(&request.body) {
                Ok(records) => sent.extend(records.into_iter().map(|r| {
                    let h = r.okta_directory;
                    (h.kind, h.action, h.id)
                })),
                Err(e) => println!("  a destination request is not a JSON array of records: {e}"),
            }
        }
        self.destination.clear();
        sent
    }

    fn requests_per_endpoint(&self) -> BTreeMap<&'static str, usize> {
        ENDPOINTS
            .iter()
            .map(|(e, name)| (*name, self.okta.count_directory_requests(*e)))
            .collect()
    }

    /// Directory requests per rate-limit bucket.
    fn requests_per_bucket(&self) -> [usize; 3] {
        let mut per = [0; 3];
        for (e, _) in ENDPOINTS {
            per[bucket_index(e.bucket())] += self.okta.count_directory_requests(e);
        }
        per
    }
}

fn bucket_index(b: Bucket) -> usize {
    match b {
        Bucket::Users => 0,
        Bucket::Groups => 1,
        Bucket::Apps => 2,
    }
}

/// The bucket of a request path, `None` outside the directory (the System Log, tokens).
fn bucket_of(path_and_query: &str) -> Option<Bucket> {
    let path = path_and_query.split('?').next().unwrap_or_default();
    let rest = path.strip_prefix("/api/v1/")?;
    let parts: Vec<&str> = rest.split('/').collect();
    match parts.as_slice() {
        ["users"] => Some(Bucket::Users),
        ["groups"] | ["groups", _, "users"] => Some(Bucket::Groups),
        ["users", _, "roles"] | ["groups", _, "roles"] | ["apps", ..] | ["iam", ..] => {
            Some(Bucket::Apps)
        }
        _ => None,
    }
}

fn tally(sent: &Sent) -> BTreeMap<(String, String), usize> {
    let mut t = BTreeMap::new();
    for (kind, action, _) in sent {
        *t.entry((kind.clone(), action.clone())).or_insert(0) += 1;
    }
    t
}

fn print_tally(t: &BTreeMap<(String, String), usize>) {
    for ((kind, action), n) in t {
        println!("    {kind:<13} {action:<9} {n:>8}");
    }
}

fn print_requests(per: &BTreeMap<&'static str, usize>) {
    for (endpoint, n) in per.iter().filter(|(_, n)| **n > 0) {
        println!("    {endpoint:<30} {n:>6}");
    }
    println!(
        "    {:<30} {:>6}",
        "total",
        per.values().copied().sum::<usize>()
    );
}

fn directory(summary: &Value) -> &Value {
    &summary["directory"]
}

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(run());
}

async fn run() {
    shared_budget().await;
    large_org().await;
}

/// 2: a 50% share of small budgets per 5 s window, enforced: no 429, and the share used.
async fn shared_budget() {
    let window = Duration::from_secs(5);
    let limits = DirectoryRateLimits {
        users: 60,
        groups: 50,
        apps: 20,
        share_percent: 50,
        window,
        concurrency: 75,
    };
    let share = [
        limits.users * limits.share_percent / 100,
        limits.groups * limits.share_percent / 100,
        limits.apps * limits.share_percent / 100,
    ];
    let (users, groups, apps) = (2_000, 100, 20);
    println!(
        "directory, {users} users, {groups} groups of 20, {apps} apps of 20, budgets {} / {} / {} \
         (users / groups / apps) per {} s window, {}% share enforced ({} / {} / {}), \
         headroom {HEADROOM}:",
        limits.users,
        limits.groups,
        limits.apps,
        window.as_secs(),
        limits.share_percent,
        share[0],
        share[1],
        share[2]
    );
    let world = World::start(limits).await;
    world.okta.populate(users, groups, apps, 20, 20);
    let started = Instant::now();
    let mut invocations = 0;
    let mut completed = false;
    let mut sent = 0;
    while invocations < MAX_INVOCATIONS && !completed {
        invocations += 1;
        let (summary, _, _) = world.invoke("full", INVOCATION).await;
        sent += world.take_sent().len();
        let Some(summary) = summary else { break };
        completed = directory(&summary)["snapshot_completed"]
            .as_bool()
            .unwrap_or(false);
    }
    let wall = started.elapsed();
    if !completed {
        println!("  MISSED: the snapshot did not complete in {invocations} invocations");
    }
    let http_429 = world.okta.count_status(429);
    let requests = world.okta.requests();
    println!(
        "  snapshot in {invocations} invocation(s), {:.1} s, {sent} records, {} Okta requests, \
         {http_429} x 429 (target 0{})",
        wall.as_secs_f64(),
        requests.len(),
        if http_429 == 0 { ": met" } else { ": MISSED" }
    );
    println!(
        "  bucket   requests  span s  windows  share/window  used of share  of share x {}",
        1.0 - HEADROOM
    );
    for (bucket, name, _) in OKTA_PER_MINUTE {
        let at: Vec<Instant> = requests
            .iter()
            .filter(|r| bucket_of(&r.path_and_query) == Some(bucket))
            .map(|r| r.at)
            .collect();
        let (Some(first), Some(last)) = (at.first(), at.last()) else {
            continue;
        };
        let span = last.duration_since(*first);
        // Windows the bucket opened: the fake opens one at the first request after the last ended.
        let windows = (span.as_secs_f64() / window.as_secs_f64()).floor() + 1.0;
        let allowed = windows * f64::from(share[bucket_index(bucket)]);
        println!(
            "  {name:<7} {:>9} {:>7.1} {windows:>8.0} {:>13} {:>13.0}% {:>15.0}%",
            at.len(),
            span.as_secs_f64(),
            share[bucket_index(bucket)],
            at.len() as f64 * 100.0 / allowed,
            at.len() as f64 * 100.0 / (allowed * (1.0 - HEADROOM)),
        );
    }
    println!(
        "  (whole-second X-Rate-Limit-Reset: each wait may overshoot the reset by up to 1 s, \
         20% of a 5 s window, under 2% of Okta's minute)"
    );
    world.function.stop().await;
}
