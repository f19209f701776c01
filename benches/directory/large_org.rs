//! The large org: its snapshot across invocations, the changes run after edits, and the
//! next day's snapshot compared with the first.

use super::*;

/// 1 and 3: the large org's snapshot over several invocations, then a changes run.
pub(super) async fn large_org() {
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
