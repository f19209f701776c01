//! `sam local invoke FUNCTION -e events/SAMPLE --env-vars env.json` (docs/configuration.md,
//! "With sam local invoke") for every sample, as far as it runs without Docker:
//!
//! - the function's environment is what SAM CLI's own code resolves from `template.yaml` and
//!   `env.json` (`scripts/sam-local-env.py`), and every `env.json` key must reach it;
//! - the real binary runs under the Lambda Runtime Interface Emulator, the program
//!   `sam local invoke` runs inside its container (it ships in the samcli package), served on
//!   127.0.0.1 and invoked as SAM invokes it, against the local fakes of `make fakes`.
//!
//! Only the addresses change: `host.docker.internal` becomes the fakes' destination, the
//! Okta org and its secret become the fake Okta's, and `AWS_ENDPOINT_URL` points the AWS
//! calls at moto instead of the account of the caller's credentials.
//!
//! SAM CLI (`aws-sam-cli`, for `$PYTHON`, default `python3`) comes from `make tools`.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use okta_ingest::config::{DESTINATION_VARIABLES, PULL_VARIABLES, PUSH_VARIABLES};
use okta_ingest_testkit::local_fakes::{
    check_every_sample_is_listed, delivered_uuids, forwardable_uuids, SAMPLES,
};
use okta_ingest_testkit::{binary_path, LocalFakes};
use serde_json::Value;
use tokio::process::{Child, Command};

/// One SAM CLI run: mostly Python's start-up and SAM's imports (about 2 s here).
const SAM_TIMEOUT: Duration = Duration::from_secs(60);
/// One invocation, the function's start included; the samples take well under a second.
const INVOKE_TIMEOUT: Duration = Duration::from_secs(60);

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

const MAKE_TOOLS: &str = "run `make tools` (it installs SAM CLI, aws-sam-cli, with pip)";

/// `scripts/sam-local-env.py ARGS`: its standard output. Run with none of the variables the
/// functions read and no AWS settings from this process, so SAM sees no shell overrides and
/// no credentials (it then makes no AWS call and passes its placeholder credentials).
async fn sam_local_env(args: &[&str]) -> String {
    let python = std::env::var("PYTHON").unwrap_or_else(|_| "python3".into());
    let mut command = Command::new(&python);
    command
        .arg(root().join("scripts/sam-local-env.py"))
        .args(args)
        .current_dir(root())
        .stdin(Stdio::null())
        .kill_on_drop(true);
    let read: Vec<&str> = DESTINATION_VARIABLES
        .iter()
        .chain(PUSH_VARIABLES)
        .chain(PULL_VARIABLES)
        .copied()
        .collect();
    for (name, _) in std::env::vars_os() {
        let name = name.to_string_lossy();
        if name.starts_with("AWS_") || read.contains(&name.as_ref()) {
            command.env_remove(name.as_ref());
        }
    }
    let nowhere = root().join("target/sam-local-no-aws-config");
    command
        .env("AWS_CONFIG_FILE", &nowhere)
        .env("AWS_SHARED_CREDENTIALS_FILE", &nowhere)
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("SAM_CLI_TELEMETRY", "0");
    let output = match tokio::time::timeout(SAM_TIMEOUT, command.output()).await {
        Ok(Ok(output)) => output,
        Ok(Err(e)) => panic!("cannot run {python} ({e}): {MAKE_TOOLS}"),
        Err(_) => panic!("SAM CLI did not answer in {} s", SAM_TIMEOUT.as_secs()),
    };
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "scripts/sam-local-env.py {args:?} failed ({}): {stderr}",
        output.status
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// The environment `sam local invoke FUNCTION ARGS` gives the function.
async fn sam_environment(function: &str, args: &[&str]) -> BTreeMap<String, String> {
    let mut all = vec![function];
    all.extend_from_slice(args);
    let json = sam_local_env(&all).await;
    serde_json::from_str(&json).unwrap_or_else(|e| panic!("not a JSON object ({e}): {json}"))
}

/// `FUNCTION`'s section of env.json.
fn env_json(function: &str) -> BTreeMap<String, String> {
    let text = std::fs::read_to_string(root().join("env.json")).expect("env.json");
    let all: BTreeMap<String, BTreeMap<String, String>> =
        serde_json::from_str(&text).expect("env.json holds one object of strings per function");
    all[function].clone()
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("no free port on 127.0.0.1")
}

/// `aws-lambda-rie BINARY`, as SAM's container runs it, with exactly `env`, on 127.0.0.1.
/// The emulator starts the binary at the first invocation and sets `AWS_LAMBDA_RUNTIME_API`
/// for it; it runs in a process group of its own, which is stopped on drop.
struct Emulator {
    child: Child,
    port: u16,
    log: PathBuf,
}

impl Emulator {
    async fn start(binary: &Path, env: &BTreeMap<String, String>, log: PathBuf) -> Emulator {
        let path = sam_local_env(&["--emulator"]).await;
        let emulator = PathBuf::from(path.trim());
        assert!(
            emulator.is_file(),
            "no runtime emulator at {}: {MAKE_TOOLS}",
            emulator.display()
        );
        let (port, runtime_api) = (free_port(), free_port());
        let out = std::fs::File::create(&log).expect("cannot create the emulator log");
        let err = out.try_clone().expect("cannot share the emulator log");
        let child = Command::new(&emulator)
            .args([
                "--log-level",
                "error",
                "--runtime-interface-emulator-address",
            ])
            .arg(format!("127.0.0.1:{port}"))
            .arg("--runtime-api-address")
            .arg(format!("127.0.0.1:{runtime_api}"))
            .arg(binary)
            .env_clear()
            .envs(env)
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .process_group(0)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot run {}: {e}", emulator.display()));
        let emulator = Emulator { child, port, log };
        for _ in 0..100 {
            if tokio::net::TcpStream::connect(("127.0.0.1", port))
                .await
                .is_ok()
            {
                return emulator;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("the emulator did not listen in 10 s:\n{}", emulator.log());
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// `POST /2015-03-31/functions/function/invocations` with the file's bytes: the status
    /// and the answer.
    async fn invoke(&self, file: &Path) -> (u16, String) {
        let body = std::fs::read(file).expect("sample");
        let url = format!(
            "http://127.0.0.1:{}/2015-03-31/functions/function/invocations",
            self.port
        );
        let client = reqwest::Client::builder()
            .timeout(INVOKE_TIMEOUT)
            .build()
            .expect("client");
        let answer = match client.post(url).body(body).send().await {
            Ok(answer) => answer,
            Err(e) => panic!("{} not answered: {e}\n{}", file.display(), self.log()),
        };
        let status = answer.status().as_u16();
        (status, answer.text().await.unwrap_or_default())
    }
}

impl Drop for Emulator {
    fn drop(&mut self) {
        if let Some(pid) = self.child.id() {
            let _ = std::process::Command::new("kill")
                .args(["-KILL", "--", &format!("-{pid}")])
                .status();
        }
    }
}

/// Every key of env.json's section for `function` reaches it under SAM with its value.
fn assert_env_json_reaches(function: &str, sam: &BTreeMap<String, String>) {
    let lost: Vec<String> = env_json(function)
        .into_iter()
        .filter(|(k, v)| sam.get(k) != Some(v))
        .map(|(k, v)| format!("{k}={v:?} (SAM passes {:?})", sam.get(&k)))
        .collect();
    assert!(
        lost.is_empty(),
        "`sam local invoke {function} --env-vars env.json` does not pass: {lost:?}; SAM \
         passes only variables template.yaml declares"
    );
}

/// SAM's environment with the host's addresses replaced by the fakes' (see the file's doc).
fn at_the_fakes(
    sam: &BTreeMap<String, String>,
    fakes: &BTreeMap<String, String>,
) -> BTreeMap<String, String> {
    let mut env = sam.clone();
    let mut url = url::Url::parse(&sam["DESTINATION_URL"]).expect("env.json's DESTINATION_URL");
    assert_eq!(url.host_str(), Some("host.docker.internal"), "{url}");
    let local = url::Url::parse(&fakes["DESTINATION_URL"]).expect("the fakes' destination");
    url.set_host(local.host_str()).expect("host");
    url.set_port(local.port()).expect("port");
    env.insert("DESTINATION_URL".into(), url.into());
    env.insert("AWS_ENDPOINT_URL".into(), fakes["AWS_ENDPOINT_URL"].clone());
    // The ledger's table is the testkit's DynamoDB, not moto's (see okta-ingest-fakes).
    env.insert(
        "AWS_ENDPOINT_URL_DYNAMODB".into(),
        fakes["AWS_ENDPOINT_URL_DYNAMODB"].clone(),
    );
    if env.contains_key("OKTA_DOMAIN") {
        for key in ["OKTA_DOMAIN", "OKTA_TOKEN_SECRET_ARN"] {
            env.insert(key.into(), fakes[key].clone());
        }
    }
    for key in ["STATE_BUCKET", "LEDGER_TABLE"] {
        assert_eq!(sam[key], fakes[key], "env.json names what the fakes create");
    }
    env
}

fn answer_json(name: &str, (status, text): &(u16, String), emulator: &Emulator) -> Value {
    assert_eq!(*status, 200, "{name}: {text}\n{}", emulator.log());
    serde_json::from_str(text).unwrap_or_else(|e| panic!("{name}: no JSON answer ({e}): {text}"))
}

#[tokio::test(flavor = "multi_thread")]
async fn every_sample_through_sams_environment_and_the_runtime_interface_emulator() {
    check_every_sample_is_listed(&root());
    let push_env = sam_environment("PushFunction", &["--env-vars", "env.json"]).await;
    let pull_env = sam_environment("PullFunction", &["--env-vars", "env.json"]).await;
    assert_env_json_reaches("PushFunction", &push_env);
    assert_env_json_reaches("PullFunction", &pull_env);
    assert_eq!(push_env["AWS_SAM_LOCAL"], "true", "{push_env:?}");

    let dir = root()
        .join("target")
        .join(format!("sam-local-test-{}", std::process::id()));
    let fakes = LocalFakes::start(&dir).await;
    let local = fakes.env();
    let push = Emulator::start(
        &binary_path("okta-push"),
        &at_the_fakes(&push_env, &local),
        dir.join("push.log"),
    )
    .await;
    let pull = Emulator::start(
        &binary_path("okta-pull"),
        &at_the_fakes(&pull_env, &local),
        dir.join("pull.log"),
    )
    .await;

    let mut answers = HashMap::new();
    let mut received = HashMap::new();
    let mut seen = 0;
    for (name, function) in SAMPLES {
        let emulator = if function == "okta-push" {
            &push
        } else {
            &pull
        };
        let answer = emulator.invoke(&fakes.sample(name)).await;
        answers.insert(name, answer_json(name, &answer, emulator));
        // The destination's lines arrive within the fakes' 50 ms poll.
        tokio::time::sleep(Duration::from_millis(300)).await;
        let requests = fakes.destination_requests();
        received.insert(name, delivered_uuids(&requests[seen..]));
        seen = requests.len();
    }

    let direct = &answers["eventbridge-direct.json"];
    assert_eq!(direct["forwarded"], 1, "{direct}");
    assert_eq!(received["eventbridge-direct.json"].len(), 1, "{direct}");

    // env.json sets MAX_EVENT_AGE_SECONDS=0: events of any age go, the old one too.
    assert_eq!(push_env["MAX_EVENT_AGE_SECONDS"], "0");
    let sample = std::fs::read_to_string(fakes.sample("sqs-batch.json")).expect("sample");
    let mut expected: Vec<String> = forwardable_uuids(&sample, None).into_iter().collect();
    expected.sort();
    assert_eq!(expected.len(), 4, "three fresh events and an old one");
    let sqs = &answers["sqs-batch.json"];
    let mut pushed = received["sqs-batch.json"].clone();
    pushed.extend(received["eventbridge-direct.json"].clone());
    pushed.sort();
    assert_eq!(pushed, expected, "{sqs}");
    assert_eq!(sqs["batchItemFailures"], serde_json::json!([]), "{sqs}");

    let okta = fakes.okta_events();
    let pulled: HashSet<String> = received["schedule.json"].iter().cloned().collect();
    let schedule = &answers["schedule.json"];
    assert_eq!(pulled, okta, "{schedule}");
    assert_eq!(received["schedule.json"].len(), okta.len(), "each once");
    assert_eq!(schedule["forwarded"], okta.len(), "{schedule}");

    // The backfill window (the last six hours) was delivered by the scheduled run.
    let backfill = &answers["backfill.json"];
    assert!(received["backfill.json"].is_empty(), "{backfill}");
    assert!(
        backfill["already_delivered"].as_u64().unwrap_or(0) >= 11,
        "{backfill}"
    );

    drop((push, pull));
    fakes.stop().await;
}

/// The template's own values, as SAM resolves them without env.json (a deployed stack's
/// environment, but for the http:// URL that DestinationUrl's pattern would refuse): each
/// function stops at start-up and names the variable.
#[tokio::test(flavor = "multi_thread")]
async fn a_deployed_stacks_environment_refuses_plain_http() {
    let dir = root()
        .join("target")
        .join(format!("sam-local-deployed-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("test directory");
    let overrides = [
        "--parameter-overrides",
        "DestinationUrl=http://127.0.0.1:9/ingest",
        "StateBucket=okta-ingest-state",
        "OktaDomain=acme.okta.com",
        "OktaTokenSecretArn=arn:aws:secretsmanager:us-east-1:123456789012:secret:okta-AbCdEf",
    ];
    for (function, binary) in [("PushFunction", "okta-push"), ("PullFunction", "okta-pull")] {
        let env = sam_environment(function, &overrides).await;
        assert_eq!(
            env.get("ALLOW_INSECURE_HTTP").map(String::as_str),
            Some("false"),
            "the template declares ALLOW_INSECURE_HTTP \"false\": {env:?}"
        );
        assert_eq!(env["DESTINATION_URL"], "http://127.0.0.1:9/ingest");
        let emulator = Emulator::start(
            &binary_path(binary),
            &env,
            dir.join(format!("{binary}.log")),
        )
        .await;
        let (status, text) = emulator.invoke(&root().join("events/schedule.json")).await;
        assert_ne!(status, 200, "{binary} ran: {text}");
        let log = emulator.log();
        assert!(
            log.contains("cannot start") && log.contains("DESTINATION_URL: uses http://"),
            "{binary}: {log}"
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
}
