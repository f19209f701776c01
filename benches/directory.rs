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
use common::{cpu_seconds, wait_rss};

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

/// 1 and 3: the large org's snapshot over several invocations, then a changes run.
async fn large_org() {
    let (users, groups, apps, members, assignments) = (100_000, 5_000, 1_000, 20, 20);
    println!(
        "\ndirectory, large org: {users} users, {groups} groups of {members}, {apps} apps of \
         {assignments} assignments; budgets that do not bind; {} s per invocation so that it \
         resumes (the template gives {TEMPLATE_TIMEOUT_S:.0} s):",
        SNAPSHOT_INVOCATION.as_secs()
    );
    let world = World::start(DirectoryRateLimits {
        users: 1_000_000,
        groups: 1_000_000,
        apps: 1_000_000,
        share_percent: 100,
        window: Duration::from_secs(60),
        concurrency: 75,
    })
    .await;
    // Built half an hour ago: the changes run (15 minutes back) must leave it to the snapshot.
    let now = time::OffsetDateTime::now_utc();
    world
        .okta
        .set_directory_clock(now - time::Duration::minutes(30));
    let built = Instant::now();
    let org = world
        .okta
        .populate(users, groups, apps, members, assignments);
    println!(
        "  (fake org built in {:.1} s)",
        built.elapsed().as_secs_f64()
    );

    let (sent, invocations, wall, cpu_total, _) = snapshot(&world).await;
    println!(
        "  snapshot: {invocations} invocations, {:.0} s wall in all ({:.1} s per invocation), \
         CPU {cpu_total:.1} s ({:.1} s per invocation, {:.1} us per record)",
        wall.as_secs_f64(),
        wall.as_secs_f64() / invocations as f64,
        cpu_total / invocations as f64,
        cpu_total * 1e6 / sent.len().max(1) as f64,
    );
    println!("  records sent, per kind and action:");
    print_tally(&tally(&sent));
    println!("    {:<23} {:>8}", "total", sent.len());
    println!("  Okta requests, per endpoint:");
    print_requests(&world.requests_per_endpoint());
    println!(
        "  ledger: {} DynamoDB requests ({:.2} per 100 records)",
        world.table.requests(),
        world.table.requests() as f64 * 100.0 / sent.len().max(1) as f64
    );
    let rss = wait_rss(&world.function).await as f64 / 1024.0;
    println!(
        "  peak RSS of okta-pull: {rss:.1} MiB (target <= {RSS_TARGET_MIB:.0} MiB{})",
        if rss <= RSS_TARGET_MIB {
            ": met"
        } else {
            ": MISSED"
        }
    );
    at_okta_budgets(&world.requests_per_bucket());

    changes_run(&world, &org).await;
    next_snapshot(&world, &org).await;
    world.function.stop().await;
}

/// Invokes `{"directory": "full"}` until a snapshot completes; what was sent, invocations,
/// wall and CPU, and whether it completed. Prints one row per invocation.
async fn snapshot(world: &World) -> (Sent, usize, Duration, f64, bool) {
    println!("  invocation   wall s   CPU s  records  Okta req  waits  peak RSS MiB  stopped");
    let started = Instant::now();
    let mut sent: Sent = Vec::new();
    let (mut invocations, mut cpu_total, mut completed) = (0, 0.0, false);
    while invocations < MAX_INVOCATIONS && !completed {
        invocations += 1;
        let (summary, wall, cpu) = world.invoke("full", SNAPSHOT_INVOCATION).await;
        cpu_total += cpu;
        let new = world.take_sent();
        let rss = wait_rss(&world.function).await as f64 / 1024.0;
        let Some(summary) = summary else { break };
        let d = directory(&summary);
        completed = d["snapshot_completed"].as_bool().unwrap_or(false);
        println!(
            "  {invocations:>10} {:>8.1} {cpu:>7.1} {:>8} {:>9} {:>6} {rss:>13.1}  {}",
            wall.as_secs_f64(),
            new.len(),
            d["okta_requests"].as_u64().unwrap_or(0),
            d["rate_limit_waits"].as_u64().unwrap_or(0),
            d["stopped"].as_str().unwrap_or_default(),
        );
        sent.extend(new);
    }
    if !completed {
        println!("  MISSED: the snapshot did not complete in {invocations} invocations");
    }
    (sent, invocations, started.elapsed(), cpu_total, completed)
}

/// The next day's snapshot, compared with the state the first one and the changes run left:
/// memory with both in hand, and deletions reported once (the changes run reported the
/// users, group, app and memberships; only the deleted app's assignments are left).
async fn next_snapshot(world: &World, org: &okta_ingest_testkit::fake_okta::PopulatedOrg) {
    println!(
        "\ndirectory, the next snapshot of the large org (the last one made 25 h older), \
         compared with the state of the first and the changes run:"
    );
    let key = "okta-directory/full.json";
    let mut cp: Value = serde_json::from_slice(&world.moto.get_object("bench-state", key).await)
        .unwrap_or_default();
    for field in ["completed_at", "started"] {
        if let Some(t) = cp[field].as_i64() {
            cp[field] = (t - 25 * 3600).into();
        }
    }
    if let Err(e) = world
        .moto
        .s3()
        .await
        .put_object()
        .bucket("bench-state")
        .key(key)
        .body(cp.to_string().into_bytes().into())
        .send()
        .await
    {
        println!("  MISSED: could not age the last snapshot: {e:?}");
        return;
    }
    let (sent, invocations, wall, cpu, _) = snapshot(world).await;
    println!(
        "  {invocations} invocations, {:.0} s wall, CPU {cpu:.1} s",
        wall.as_secs_f64()
    );
    println!("  records sent, per kind and action:");
    print_tally(&tally(&sent));
    let app = &org.apps[500];
    let mut expected: BTreeSet<(String, String, String)> = (0..20)
        .map(|k| {
            (
                "app_user".to_owned(),
                "deleted".to_owned(),
                format!("{app}/{}", org.users[500 * 20 + k]),
            )
        })
        .collect();
    expected.insert((
        "app_group".to_owned(),
        "deleted".to_owned(),
        format!("{app}/{}", org.groups[500]),
    ));
    let deleted: Vec<&(String, String, String)> =
        sent.iter().filter(|(_, a, _)| a == "deleted").collect();
    let got: BTreeSet<(String, String, String)> = deleted.iter().copied().cloned().collect();
    if got == expected && deleted.len() == got.len() {
        println!(
            "  deletions: exactly the deleted app's {} assignments, nothing the changes run \
             reported: met",
            expected.len()
        );
    } else {
        println!(
            "  MISSED: {} deletions ({} distinct), expected the deleted app's {} assignments; \
             {} missing, {} unexpected",
            deleted.len(),
            got.len(),
            expected.len(),
            expected.difference(&got).count(),
            got.difference(&expected).count()
        );
        for x in got.difference(&expected).take(10) {
            println!("    unexpected {x:?}");
        }
    }
    let rss = wait_rss(&world.function).await as f64 / 1024.0;
    println!(
        "  peak RSS of okta-pull after both snapshots: {rss:.1} MiB (target <= \
         {RSS_TARGET_MIB:.0} MiB{})",
        if rss <= RSS_TARGET_MIB {
            ": met"
        } else {
            ": MISSED"
        }
    );
}

/// What the snapshot's requests take at Okta's default budgets, 50% share, headroom 0.25.
fn at_okta_budgets(per_bucket: &[usize; 3]) {
    println!(
        "  at Okta's default budgets (per minute), {:.0}% share, headroom {HEADROOM}: \
         requests / (limit x {OKTA_SHARE} x {})",
        OKTA_SHARE * 100.0,
        1.0 - HEADROOM
    );
    let mut slowest: f64 = 0.0;
    let mut sum = 0.0;
    for (bucket, name, limit) in OKTA_PER_MINUTE {
        let n = per_bucket[bucket_index(bucket)];
        let per_minute = limit * OKTA_SHARE * (1.0 - HEADROOM);
        let minutes = n as f64 / per_minute;
        slowest = slowest.max(minutes);
        sum += minutes;
        println!(
            "    {name:<7} bucket {n:>6} requests at {per_minute:>6.1}/min {minutes:>6.1} min"
        );
    }
    let invocations = |minutes: f64| (minutes * 60.0 / TEMPLATE_TIMEOUT_S).ceil();
    println!(
        "    slowest bucket: {slowest:.1} min = {:.0} invocations of {TEMPLATE_TIMEOUT_S:.0} s; \
         okta-pull reads the lists one after the other, so the buckets' times add up: \
         {sum:.1} min = {:.0} invocations (at one invocation per 15 minutes, about {:.1} h)",
        invocations(slowest),
        invocations(sum),
        invocations(sum) * 15.0 / 60.0
    );
}

/// 3: edits after the snapshot, then one changes run.
async fn changes_run(world: &World, org: &okta_ingest_testkit::fake_okta::PopulatedOrg) {
    let okta = &world.okta;
    okta.set_directory_clock(time::OffsetDateTime::now_utc());
    let mut expected: BTreeSet<(String, String, String)> = BTreeSet::new();
    let mut expect = |kind: &str, action: &str, id: String| {
        expected.insert((kind.to_owned(), action.to_owned(), id));
    };
    for i in 0..100 {
        let user = &org.users[1_000 + i];
        okta.update_user(user, "department", &format!("Finance {i}"));
        expect("user", "changed", user.clone());
    }
    // Group g holds users 20g..20g+19.
    for g in 0..5 {
        let joiner = &org.users[99_000 + g];
        okta.add_member(&org.groups[g], joiner);
        expect(
            "group_member",
            "changed",
            format!("{}/{joiner}", org.groups[g]),
        );
    }
    for g in 5..10 {
        let leaver = &org.users[g * 20];
        okta.remove_member(&org.groups[g], leaver);
        expect(
            "group_member",
            "deleted",
            format!("{}/{leaver}", org.groups[g]),
        );
    }
    for u in [50_000, 60_000, 70_000] {
        okta.delete_user(&org.users[u]);
        expect("user", "deleted", org.users[u].clone());
        expect(
            "group_member",
            "deleted",
            format!("{}/{}", org.groups[u / 20], org.users[u]),
        );
    }
    let gone_group = 4_000;
    okta.delete_group(&org.groups[gone_group]);
    expect("group", "deleted", org.groups[gone_group].clone());
    for k in 0..20 {
        expect(
            "group_member",
            "deleted",
            format!(
                "{}/{}",
                org.groups[gone_group],
                org.users[gone_group * 20 + k]
            ),
        );
    }
    okta.delete_app(&org.apps[500]);
    expect("app", "deleted", org.apps[500].clone());

    let before_endpoints = world.requests_per_endpoint();
    let before_all = okta.requests().len();
    let (summary, wall, cpu) = world.invoke("changes", INVOCATION).await;
    let sent = world.take_sent();
    let requests_all = okta.requests().len() - before_all;
    let per_endpoint: BTreeMap<&'static str, usize> = world
        .requests_per_endpoint()
        .into_iter()
        .map(|(e, n)| (e, n - before_endpoints.get(e).copied().unwrap_or(0)))
        .collect();
    println!(
        "\ndirectory, changes run on the large org after its snapshot: 100 user edits, 5 members \
         added and 5 removed (10 groups), 3 users, 1 group and 1 app deleted:"
    );
    let d = summary.as_ref().map(directory).cloned().unwrap_or_default();
    let completed = d["completed"].as_bool().unwrap_or(false);
    println!(
        "  one invocation: {:.1} s wall, {cpu:.2} s CPU, completed: {completed}{} ({})",
        wall.as_secs_f64(),
        if completed { "" } else { " MISSED" },
        d["stopped"].as_str().unwrap_or_default()
    );
    println!("  records sent, per kind and action:");
    print_tally(&tally(&sent));
    let got: BTreeSet<(String, String, String)> = sent.iter().cloned().collect();
    let missing: Vec<_> = expected.difference(&got).collect();
    let extra: Vec<_> = got.difference(&expected).collect();
    let repeated = sent.len() - got.len();
    if missing.is_empty() && extra.is_empty() && repeated == 0 {
        println!(
            "  exactly the {} expected records (the edits, and the memberships of the deleted \
             users and group): met",
            expected.len()
        );
    } else {
        println!(
            "  MISSED: expected {} records; {} missing, {} unexpected, {repeated} sent twice",
            expected.len(),
            missing.len(),
            extra.len()
        );
        for m in missing.iter().take(10) {
            println!("    missing    {m:?}");
        }
        for x in extra.iter().take(10) {
            println!("    unexpected {x:?}");
        }
    }
    println!("  Okta requests, per endpoint:");
    print_requests(&per_endpoint);
    let directory_requests: usize = per_endpoint.values().sum();
    println!(
        "    {:<30} {:>6}",
        "System Log (deletion events)",
        requests_all - directory_requests
    );
    println!(
        "  {requests_all} Okta requests in all, {directory_requests} of them to the directory's \
         buckets (target <= {CHANGES_REQUESTS_TARGET}: {})",
        match (
            requests_all <= CHANGES_REQUESTS_TARGET,
            directory_requests <= CHANGES_REQUESTS_TARGET
        ) {
            (true, _) => "met".to_owned(),
            (false, true) => format!(
                "MISSED by {} counting the System Log read, met for the directory's buckets",
                requests_all - CHANGES_REQUESTS_TARGET
            ),
            (false, false) => "MISSED".to_owned(),
        }
    );
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
