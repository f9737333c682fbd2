//! `batch-host serve` through the real binary and real HTTP: tokens and tenant isolation on both
//! backends, every endpoint's happy path and error cases, quota atomicity under concurrent
//! launches, stop and restart, a server killed with a running job, a graceful shutdown, the
//! OpenAPI document against the routes, and the metrics after a known job.

use std::io::{BufRead as _, BufReader};
use std::path::PathBuf;
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::support::*;

/// A running `batch-host serve`, stopped (SIGTERM) when dropped.
pub struct Serve {
    pub child: Option<Child>,
    pub base: String,
    pub work_root: PathBuf,
}

impl Serve {
    /// Starts the server on a free port with `extra` arguments and waits for its address.
    pub fn start(env: &Env, extra: &[&str]) -> Serve {
        let work_root = env.dir.path().join("serve-work");
        let mut args = vec![
            "serve".to_owned(),
            "--listen".into(),
            "127.0.0.1:0".into(),
            "--work-root".into(),
            work_root.display().to_string(),
        ];
        args.extend(extra.iter().map(|s| s.to_string()));
        let mut child = env
            .command()
            .args(&args)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("spawn batch-host serve");
        let stdout = child.stdout.take().expect("stdout");
        let mut first = String::new();
        let mut reader = BufReader::new(stdout);
        reader
            .read_line(&mut first)
            .expect("the server prints its address");
        // The rest of stdout is drained, so the server never writes into a closed pipe.
        std::thread::spawn(move || std::io::copy(&mut reader, &mut std::io::sink()));
        let base = first
            .split_whitespace()
            .find(|w| w.starts_with("http://"))
            .unwrap_or_else(|| panic!("no address in `{first}`"))
            .to_owned();
        Serve {
            child: Some(child),
            base,
            work_root,
        }
    }

    /// A tenant's work directory (where its input files go).
    pub fn workdir(&self, tenant: &str) -> PathBuf {
        let dir = self.work_root.join(tenant);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    /// Sends SIGTERM and waits (bounded) for the process to exit; its exit code.
    pub fn terminate(&mut self) -> Option<i32> {
        let mut child = self.child.take()?;
        let _ = std::process::Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status();
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Some(status) = child.try_wait().unwrap() {
                return status.code();
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                panic!("the server did not stop within 60 s of SIGTERM");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Kills the process at once (SIGKILL), as a crash would.
    pub fn kill9(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for Serve {
    fn drop(&mut self) {
        if self.child.is_some() {
            self.terminate();
        }
    }
}

/// An HTTP answer: status, content type and body.
pub struct Answer {
    pub status: u16,
    pub content_type: String,
    pub body: Vec<u8>,
    pub headers: Vec<(String, String)>,
}

impl Answer {
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| {
            panic!(
                "status {}: body is not JSON ({e}): {}",
                self.status,
                String::from_utf8_lossy(&self.body)
            )
        })
    }
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
    /// The error code of a JSON error body.
    pub fn code(&self) -> String {
        self.json()["error"]["code"]
            .as_str()
            .unwrap_or_default()
            .to_owned()
    }
}

/// One request: `token` as the bearer (if any), extra headers, a body.
pub fn call(
    method: &str,
    url: &str,
    token: Option<&str>,
    headers: &[(&str, &str)],
    body: Option<(&str, Vec<u8>)>,
) -> Answer {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(120)))
        .build()
        .into();
    let mut req = ureq::http::Request::builder().method(method).uri(url);
    if let Some(t) = token {
        req = req.header("Authorization", format!("Bearer {t}"));
    }
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let (ctype, bytes) = body.unwrap_or(("application/json", Vec::new()));
    let req = req.header("Content-Type", ctype).body(bytes).unwrap();
    let mut res = agent
        .run(req)
        .unwrap_or_else(|e| panic!("{method} {url}: {e}"));
    let status = res.status().as_u16();
    let headers: Vec<(String, String)> = res
        .headers()
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_str().unwrap_or_default().to_owned()))
        .collect();
    let content_type = res
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let body = res
        .body_mut()
        .with_config()
        .limit(64 * 1024 * 1024)
        .read_to_vec()
        .unwrap_or_default();
    Answer {
        status,
        content_type,
        body,
        headers,
    }
}

/// Sends only the head of a request announcing a `length`-byte body and returns the status line.
pub fn too_large(base: &str, path: &str, token: &str, length: usize) -> String {
    use std::io::{Read as _, Write as _};
    let addr = base.trim_start_matches("http://");
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    write!(s, "POST {path} HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {token}\r\nContent-Type: application/json\r\nContent-Length: {length}\r\n\r\n").unwrap();
    let _ = s.write_all(b"{\"job\": \"");
    let mut buf = [0u8; 512];
    let n = s.read(&mut buf).unwrap_or(0);
    String::from_utf8_lossy(&buf[..n]).into_owned()
}

/// A client of one server with one token.
#[derive(Clone)]
pub struct Client {
    pub base: String,
    pub token: String,
}

impl Client {
    pub fn get(&self, path: &str) -> Answer {
        call(
            "GET",
            &format!("{}{path}", self.base),
            Some(&self.token),
            &[],
            None,
        )
    }
    pub fn post(&self, path: &str, body: Value) -> Answer {
        call(
            "POST",
            &format!("{}{path}", self.base),
            Some(&self.token),
            &[],
            Some(("application/json", body.to_string().into_bytes())),
        )
    }
    pub fn post_empty(&self, path: &str) -> Answer {
        call(
            "POST",
            &format!("{}{path}", self.base),
            Some(&self.token),
            &[],
            None,
        )
    }
    pub fn upload(&self, name: &str, component: &str) -> Answer {
        let bytes = std::fs::read(crate::support::component(component)).unwrap();
        call(
            "POST",
            &format!("{}/api/v1/plugins?name={name}", self.base),
            Some(&self.token),
            &[],
            Some(("application/wasm", bytes)),
        )
    }

    /// Polls execution `id` until `done(status)` (bounded; a harness limit, not a timing
    /// assertion) and returns its detail.
    pub fn wait_for(&self, id: i64, done: impl Fn(&str) -> bool) -> Value {
        let deadline = Instant::now() + Duration::from_secs(120);
        loop {
            let a = self.get(&format!("/api/v1/executions/{id}"));
            assert_eq!(a.status, 200, "{}", a.text());
            let v = a.json();
            if done(v["status"].as_str().unwrap_or_default()) {
                return v;
            }
            assert!(
                Instant::now() < deadline,
                "execution {id} stayed {}",
                v["status"]
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Launches a job and returns its execution id (asserting 202).
    pub fn launch(&self, body: Value) -> i64 {
        let a = self.post("/api/v1/jobs", body);
        assert_eq!(a.status, 202, "{}", a.text());
        a.json()["execution"]["execution_id"].as_i64().unwrap()
    }
}

/// Waits (bounded) until execution `id`'s first step has committed `n` chunks.
pub fn wait_commits(client: &Client, id: i64, n: i64) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while client.get(&format!("/api/v1/executions/{id}")).json()["steps"][0]["commit"]
        .as_i64()
        .unwrap_or(0)
        < n
    {
        assert!(Instant::now() < deadline, "execution {id} made no progress");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// `batch-host token create --json` for a tenant (or `--admin`): the token text.
pub fn token(env: &Env, tenant: Option<&str>) -> String {
    let out = match tenant {
        Some(t) => env.run(&["--tenant", t, "token", "create", "--name", "test", "--json"]),
        None => env.run(&["token", "create", "--admin", "--json"]),
    };
    assert_success(&out);
    let v: Value = serde_json::from_str(stdout(&out).trim()).unwrap();
    v["token"].as_str().unwrap().to_owned()
}

/// The member-migration job through the built-ins, skipping invalid emails.
pub const MEMBERS_JOB: &str = "name: members\nsteps:\n  - name: migrate\n    chunk:\n      size: 10\n      reader: { builtin: csv, config: { path: members.csv } }\n      processor: { plugin: member-processor }\n      writer: { builtin: jsonl, config: { path: out.jsonl } }\n      fault-tolerance: { skip: { kinds: [validation], limit: 100 } }\n";

/// A chunk-of-one job over `n` items that takes a while: for stop, restart and progress. The
/// built-in JSON-lines writer keeps its output exactly once across a kill -9.
pub fn slow_job(name: &str, n: usize) -> String {
    let items: Vec<String> = (1..=n).map(|i| format!("\"{i}\"")).collect();
    format!(
        "name: {name}\nsteps:\n  - name: s\n    chunk:\n      size: 1\n      reader: {{ plugin: testkit-reader, config: {{ items: [{}] }} }}\n      writer: {{ builtin: jsonl, config: {{ path: {name}.txt }} }}\n",
        items.join(", ")
    )
}

/// 40 members, rows 7, 19 and 33 with invalid emails.
fn members_file(dir: &std::path::Path) {
    std::fs::write(dir.join("members.csv"), members_csv(40, &[7, 19, 33])).unwrap();
}

async fn api_end_to_end(backend: Backend) {
    let Some(env) = Env::new(backend).await else {
        return;
    };
    env.create_tenant("acme");
    env.create_tenant("globex");
    let acme_token = token(&env, Some("acme"));
    let globex_token = token(&env, Some("globex"));
    let admin_token = token(&env, None);
    let server = Serve::start(&env, &[]);
    let base = server.base.clone();
    let acme = Client {
        base: base.clone(),
        token: acme_token.clone(),
    };
    let globex = Client {
        base: base.clone(),
        token: globex_token.clone(),
    };
    let admin = Client {
        base: base.clone(),
        token: admin_token.clone(),
    };

    // Health, readiness and the OpenAPI document need no token.
    let a = call("GET", &format!("{base}/api/v1/health"), None, &[], None);
    assert_eq!((a.status, a.json()["status"].clone()), (200, json!("ok")));
    let a = call("GET", &format!("{base}/api/v1/ready"), None, &[], None);
    assert_eq!(
        (a.status, a.json()["status"].clone()),
        (200, json!("ready"))
    );
    let a = call(
        "GET",
        &format!("{base}/api/v1/openapi.json"),
        None,
        &[],
        None,
    );
    assert_eq!(a.json()["openapi"], "3.1.0");

    // No token, a malformed one, an unknown one, a revoked one: 401 with a JSON error.
    let a = call("GET", &format!("{base}/api/v1/executions"), None, &[], None);
    assert_eq!((a.status, a.code()), (401, "unauthorized".to_owned()));
    assert!(
        a.header("www-authenticate")
            .is_some_and(|v| v.starts_with("Bearer"))
    );
    assert!(
        a.json()["error"]["message"]
            .as_str()
            .unwrap()
            .contains("batch-host token create")
    );
    // The right id with a wrong secret (its last digit changed).
    let last = if acme_token.ends_with('0') { '1' } else { '0' };
    let wrong_secret = format!("{}{last}", &acme_token[..acme_token.len() - 1]);
    for bad in [
        "nonsense",
        "bh_0123456789abcdef_00",
        &acme_token[..acme_token.len() - 1],
        &wrong_secret,
    ] {
        let a = call(
            "GET",
            &format!("{base}/api/v1/executions"),
            Some(bad),
            &[],
            None,
        );
        assert_eq!(a.status, 401, "{bad}");
    }
    let doomed = token(&env, Some("acme"));
    assert_eq!(
        Client {
            base: base.clone(),
            token: doomed.clone()
        }
        .get("/api/v1/whoami")
        .status,
        200
    );
    let id = doomed.split('_').nth(1).unwrap();
    assert_success(&env.run(&["token", "revoke", id]));
    assert_eq!(
        Client {
            base: base.clone(),
            token: doomed
        }
        .get("/api/v1/whoami")
        .status,
        401
    );
    // The repository holds only hashes: no token text appears in it.
    let listed = env.run(&["token", "list", "--json"]);
    assert_success(&listed);
    assert!(
        !stdout(&listed).contains(&acme_token[20..]),
        "token list must not show secrets"
    );

    // Who am I; a tenant token cannot act for another tenant.
    assert_eq!(acme.get("/api/v1/whoami").json()["tenant"], "acme");
    let a = call(
        "GET",
        &format!("{base}/api/v1/executions"),
        Some(&acme_token),
        &[("X-Batch-Tenant", "globex")],
        None,
    );
    assert_eq!(a.status, 403);

    // Plugins: upload, list, inspect; invalid uploads are 4xx; globex sees none of acme's.
    let a = acme.upload("member-processor", "member-processor");
    assert_eq!(a.status, 201, "{}", a.text());
    assert_eq!(a.json()["world"], "processor");
    let digest = a.json()["digest"].as_str().unwrap().to_owned();
    let a = call(
        "POST",
        &format!("{base}/api/v1/plugins?name=junk"),
        Some(&acme_token),
        &[],
        Some(("application/wasm", b"not a component".to_vec())),
    );
    assert_eq!(
        (a.status, a.code()),
        (422, "invalid_plugin".to_owned()),
        "{}",
        a.text()
    );
    let a = call(
        "POST",
        &format!("{base}/api/v1/plugins"),
        Some(&acme_token),
        &[],
        Some(("application/wasm", b"x".to_vec())),
    );
    assert_eq!(a.status, 400, "{}", a.text());
    let a = call(
        "POST",
        &format!("{base}/api/v1/plugins?name=../etc"),
        Some(&acme_token),
        &[],
        Some(("application/wasm", b"x".to_vec())),
    );
    assert_eq!(a.status, 400, "{}", a.text());
    let listed = acme.get("/api/v1/plugins").json();
    assert_eq!(listed["plugins"][0]["name"], "member-processor");
    assert_eq!(listed["plugins"][0]["digest"], digest.as_str());
    let inspected = acme.get("/api/v1/plugins/member-processor").json();
    assert!(
        inspected["exports"]
            .to_string()
            .contains("batch:plugin/item-processor"),
        "{inspected}"
    );
    assert_eq!(globex.get("/api/v1/plugins").json()["plugins"], json!([]));
    assert_eq!(globex.get("/api/v1/plugins/member-processor").status, 404);
    assert_eq!(acme.get("/api/v1/plugins/nope").status, 404);

    // A job: launched, run to the end, with exact counters, dead letters and output.
    members_file(&server.workdir("acme"));
    let id =
        acme.launch(json!({ "job": MEMBERS_JOB, "params": { "run.date": "2026-12-04,date" } }));
    let done = acme.wait_for(id, |s| s == "COMPLETED" || s == "FAILED");
    assert_eq!(done["status"], "COMPLETED", "{done}");
    let step = &done["steps"][0];
    assert_eq!(
        (
            step["read"].as_i64(),
            step["write"].as_i64(),
            step["process_skip"].as_i64()
        ),
        (Some(40), Some(37), Some(3)),
        "{step}"
    );
    assert_eq!(step["commit"], 5, "{step}");
    assert_eq!(done["flow"], json!(["migrate"]));
    assert_eq!(
        done["parameters"]["run.date"]["type"],
        "java.time.LocalDate"
    );
    assert!(step["plugins"].to_string().contains(&digest), "{step}");
    let out = std::fs::read_to_string(server.workdir("acme").join("out.jsonl")).unwrap();
    assert_eq!(out.lines().count(), 37);
    let skipped = acme.get(&format!("/api/v1/executions/{id}/skipped")).json();
    assert_eq!(skipped["total"], 3);
    let positions: Vec<i64> = skipped["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["position"].as_i64().unwrap())
        .collect();
    assert_eq!(positions.len(), 3);
    assert!(
        skipped["items"][0]["payload"]
            .as_str()
            .unwrap()
            .contains("user7@@example.com"),
        "{skipped}"
    );
    assert_eq!(skipped["items"][0]["kind"], "validation.email");
    let page = acme
        .get(&format!("/api/v1/executions/{id}/skipped?limit=2&offset=2"))
        .json();
    assert_eq!(
        (
            page["items"].as_array().unwrap().len(),
            page["next_offset"].clone()
        ),
        (1, Value::Null)
    );
    let export = acme.get(&format!("/api/v1/executions/{id}/skipped?format=jsonl"));
    assert_eq!(export.content_type, "application/x-ndjson");
    assert!(
        export
            .header("content-disposition")
            .unwrap()
            .contains(&format!("skipped-{id}.jsonl"))
    );
    assert_eq!(export.text().lines().count(), 3);
    let tp = acme
        .get(&format!("/api/v1/executions/{id}/throughput"))
        .json();
    let points = tp["steps"][0]["points"].as_array().unwrap();
    assert_eq!(points.first().unwrap()["read"], 0);
    assert_eq!(points.last().unwrap()["read"], 40);
    let jobs = acme.get("/api/v1/jobs").json();
    assert_eq!(
        (
            jobs["jobs"][0]["job"].clone(),
            jobs["jobs"][0]["instance_ids"].clone()
        ),
        (json!("members"), json!([1]))
    );
    let list = acme.get("/api/v1/executions").json();
    assert_eq!(list["executions"][0]["totals"]["skip"], 3);

    // The same job again: its instance is complete, 409.
    let a = acme.post(
        "/api/v1/jobs",
        json!({ "job": MEMBERS_JOB, "params": { "run.date": "2026-12-04,date" } }),
    );
    assert_eq!(
        (a.status, a.code()),
        (409, "conflict".to_owned()),
        "{}",
        a.text()
    );
    // `next` starts a new instance.
    let second = acme.launch(json!({ "job": MEMBERS_JOB, "next": true }));
    acme.wait_for(second, |s| s == "COMPLETED");
    let page = acme.get("/api/v1/executions?limit=1").json();
    assert_eq!(
        (
            page["executions"].as_array().unwrap().len(),
            page["next_offset"].as_i64()
        ),
        (1, Some(1))
    );
    assert_eq!(
        acme.get("/api/v1/executions?limit=1&offset=1").json()["executions"][0]["execution_id"],
        id
    );
    assert_eq!(
        acme.get("/api/v1/executions?status=FAILED").json()["executions"],
        json!([])
    );

    // Invalid jobs: every problem with its line and column, as the CLI prints them.
    let a = acme.post("/api/v1/jobs", json!({ "job": "name: bad\nsteps:\n  - name: s\n    chunk:\n      size: 0\n      reader: { plugin: nope }\n      writer: { builtin: jsonl, config: { path: o.jsonl } }\n" }));
    assert_eq!(
        (a.status, a.code()),
        (422, "invalid_job".to_owned()),
        "{}",
        a.text()
    );
    let problems = a.json()["error"]["problems"].as_array().unwrap().clone();
    assert!(problems.len() >= 2, "{problems:?}");
    assert!(
        problems.iter().any(|p| p["line"] == 6
            && p["message"]
                .as_str()
                .unwrap()
                .contains("plugin `nope` is not registered")),
        "{problems:?}"
    );
    let a = acme.post(
        "/api/v1/jobs/validate",
        json!({ "job": "name: [unclosed\n" }),
    );
    assert_eq!(a.status, 422);
    assert_eq!(a.json()["error"]["problems"][0]["file"], "(api)/job.yaml");
    let a = acme.post("/api/v1/jobs/validate", json!({ "job": MEMBERS_JOB }));
    assert_eq!(
        (a.status, a.json()["valid"].clone()),
        (200, json!(true)),
        "{}",
        a.text()
    );
    // A `path:` plugin would read the server's own files: refused.
    let a = acme.post(
        "/api/v1/jobs/validate",
        json!({ "job": "name: p\nsteps:\n  - name: t\n    tasklet: { path: /etc/passwd }\n" }),
    );
    assert_eq!(a.status, 422);
    assert!(a.text().contains("registered plugins only"), "{}", a.text());
    // A step directory outside the tenant's work directory: refused.
    let a = acme.post("/api/v1/jobs/validate", json!({ "job": "name: p\nsteps:\n  - name: t\n    directory: ../globex\n    chunk: { size: 1, reader: { builtin: csv, config: { path: members.csv } }, writer: { builtin: jsonl, config: { path: o.jsonl } } }\n" }));
    assert_eq!(a.status, 422, "{}", a.text());
    assert!(
        a.json()["error"]["problems"]
            .to_string()
            .contains("steps[0].directory"),
        "{}",
        a.text()
    );

    // Malformed requests are 4xx with a JSON error, never 500.
    let url = format!("{base}/api/v1/jobs");
    for (ctype, body) in [
        ("application/json", b"{".to_vec()),
        ("application/json", b"[]".to_vec()),
        ("application/json", br#"{"job": 5}"#.to_vec()),
        ("application/json", br#"{"job": "x", "evil": 1}"#.to_vec()),
        ("application/json", Vec::new()),
    ] {
        let a = call(
            "POST",
            &url,
            Some(&acme_token),
            &[],
            Some((ctype, body.clone())),
        );
        assert_eq!(
            (a.status, a.code()),
            (400, "bad_request".to_owned()),
            "{}: {}",
            String::from_utf8_lossy(&body),
            a.text()
        );
    }
    // A body over the limit is refused from its Content-Length, before it is sent.
    assert!(
        too_large(&base, "/api/v1/jobs", &acme_token, 2 * 1024 * 1024).starts_with("HTTP/1.1 413")
    );
    for path in [
        "/api/v1/executions/abc",
        "/api/v1/executions/-1",
        "/api/v1/executions?limit=0",
        "/api/v1/executions?limit=9999",
        "/api/v1/executions?status=RUNNING",
        "/api/v1/executions?bogus=1",
        &format!("/api/v1/executions/{id}/skipped?format=xml"),
    ] {
        let a = acme.get(path);
        assert_eq!(
            (a.status, a.code()),
            (400, "bad_request".to_owned()),
            "{path}: {}",
            a.text()
        );
    }
    let a = acme.get("/api/v1/nothing-here");
    assert_eq!((a.status, a.code()), (404, "not_found".to_owned()));

    // Isolation: globex sees none of acme's executions; each is 404, as if it did not exist.
    assert_eq!(
        globex.get("/api/v1/executions").json()["executions"],
        json!([])
    );
    assert_eq!(globex.get("/api/v1/jobs").json()["jobs"], json!([]));
    for (method, path) in [
        ("GET", format!("/api/v1/executions/{id}")),
        ("GET", format!("/api/v1/executions/{id}/skipped")),
        ("GET", format!("/api/v1/executions/{id}/throughput")),
        ("POST", format!("/api/v1/executions/{id}/stop")),
        ("POST", format!("/api/v1/executions/{id}/restart")),
        ("POST", format!("/api/v1/executions/{id}/abandon")),
        ("POST", format!("/api/v1/executions/{id}/recover")),
    ] {
        let a = call(
            method,
            &format!("{base}{path}"),
            Some(&globex_token),
            &[],
            None,
        );
        assert_eq!(
            (a.status, a.code()),
            (404, "not_found".to_owned()),
            "{method} {path}: {}",
            a.text()
        );
    }
    // A globex job cannot use acme's plugin.
    let a = globex.post("/api/v1/jobs", json!({ "job": MEMBERS_JOB }));
    assert_eq!(a.status, 422, "{}", a.text());
    // An admin token naming a tenant that does not exist: 404, and no repository is created.
    let a = call(
        "GET",
        &format!("{base}/api/v1/executions"),
        Some(&admin_token),
        &[("X-Batch-Tenant", "acmee")],
        None,
    );
    assert_eq!(
        (a.status, a.code()),
        (404, "not_found".to_owned()),
        "{}",
        a.text()
    );
    assert!(a.text().contains("tenant create"), "{}", a.text());
    // The admin token acts for any tenant it names.
    let a = call(
        "GET",
        &format!("{base}/api/v1/executions/{id}"),
        Some(&admin_token),
        &[("X-Batch-Tenant", "acme")],
        None,
    );
    assert_eq!((a.status, a.json()["job"].clone()), (200, json!("members")));

    // Metrics: admin only, with the exact counts of the two runs of the members job.
    assert_eq!(acme.get("/metrics").status, 403);
    let m = admin.get("/metrics");
    assert_eq!(m.status, 200);
    assert!(m.content_type.starts_with("text/plain"));
    let text = m.text();
    let metric = |name: &str, labels: &str| -> f64 {
        text.lines()
            .find(|l| l.starts_with(name) && l.contains(labels) && !l.starts_with('#'))
            .and_then(|l| l.rsplit(' ').next())
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("no {name}{{{labels}}} in\n{text}"))
    };
    let job = r#"job="members""#;
    assert_eq!(metric("batch_item_read_total", job), 80.0);
    assert_eq!(metric("batch_chunk_write_total", job), 74.0);
    assert_eq!(metric("batch_item_skip_total", r#"phase="process""#), 6.0);
    assert_eq!(metric("batch_chunk_commit_total", job), 10.0);
    assert_eq!(metric("batch_job_total", r#"status="COMPLETED""#), 2.0);
    assert_eq!(metric("batch_step_total", r#"step="migrate""#), 2.0);
    assert!(text.contains("batch_plugin_call_duration_seconds_bucket{plugin=\"member-processor@0.1.0\",role=\"processor\""), "{text}");
    assert!(text.contains(r#"tenant="acme""#));

    // Remove a plugin.
    let a = call(
        "DELETE",
        &format!("{base}/api/v1/plugins/member-processor"),
        Some(&acme_token),
        &[],
        None,
    );
    assert_eq!((a.status, a.json()["removed"].clone()), (200, json!(1)));
    assert_eq!(
        call(
            "DELETE",
            &format!("{base}/api/v1/plugins/member-processor"),
            Some(&acme_token),
            &[],
            None
        )
        .status,
        404
    );

    drop(server);
    env.cleanup().await;
}
both_backends!(api, api_end_to_end);

async fn stop_restart_abandon(backend: Backend) {
    let Some(env) = Env::new(backend).await else {
        return;
    };
    env.create_tenant("acme");
    let server = Serve::start(&env, &[]);
    let acme = Client {
        base: server.base.clone(),
        token: token(&env, Some("acme")),
    };
    for p in ["testkit-reader", "testkit-tasklet"] {
        assert_eq!(acme.upload(p, p).status, 201);
    }
    let job = slow_job("slow", 3000);
    let id = acme.launch(json!({ "job": job }));
    // Running: its counters move while it runs.
    let first = acme.wait_for(id, |s| s == "STARTED");
    assert_eq!(first["running_here"], true);
    wait_commits(&acme, id, 5);
    let a = acme.post_empty(&format!("/api/v1/executions/{id}/stop"));
    assert_eq!(a.status, 202, "{}", a.text());
    let stopped = acme.wait_for(id, |s| s == "STOPPED" || s == "COMPLETED");
    assert_eq!(
        stopped["status"], "STOPPED",
        "the job ended before the stop: make it longer"
    );
    // Stopping it again: it is not running.
    assert_eq!(
        acme.post_empty(&format!("/api/v1/executions/{id}/stop"))
            .status,
        409
    );
    // Restart: from the last committed chunk, every item written once.
    let a = acme.post_empty(&format!("/api/v1/executions/{id}/restart"));
    assert_eq!(a.status, 202, "{}", a.text());
    let again = a.json()["execution"]["execution_id"].as_i64().unwrap();
    assert_ne!(again, id);
    assert_eq!(
        acme.wait_for(again, |s| s != "STARTED" && s != "STARTING")["status"],
        "COMPLETED"
    );
    let out = std::fs::read_to_string(server.workdir("acme").join("slow.txt")).unwrap();
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 3000, "every item exactly once");
    assert_eq!(lines[0], "\"1\"");
    assert_eq!(lines[2999], "\"3000\"");
    // A COMPLETED execution cannot be restarted or abandoned.
    assert_eq!(
        acme.post_empty(&format!("/api/v1/executions/{again}/restart"))
            .status,
        409
    );
    assert_eq!(
        acme.post_empty(&format!("/api/v1/executions/{again}/abandon"))
            .status,
        409
    );
    // A FAILED one can be abandoned; then it cannot be restarted.
    std::fs::write(server.workdir("acme").join("fail.flag"), "").unwrap();
    let failing = acme.launch(json!({ "job": "name: fails\nsteps:\n  - name: work\n    tasklet: { plugin: testkit-tasklet, config: { fail-if-exists: fail.flag } }\n" }));
    assert_eq!(
        acme.wait_for(failing, |s| s == "FAILED" || s == "COMPLETED")["status"],
        "FAILED"
    );
    assert_eq!(
        acme.post_empty(&format!("/api/v1/executions/{failing}/recover"))
            .status,
        409
    );
    let a = acme.post_empty(&format!("/api/v1/executions/{failing}/abandon"));
    assert_eq!(
        (a.status, a.json()["status"].clone()),
        (200, json!("ABANDONED"))
    );
    assert_eq!(
        acme.post_empty(&format!("/api/v1/executions/{failing}/restart"))
            .status,
        409
    );
    drop(server);
    env.cleanup().await;
}
both_backends!(stop_restart, stop_restart_abandon);

/// Two simultaneous launches cannot both pass a quota of one.
async fn quota_atomic(backend: Backend) {
    let Some(env) = Env::new(backend).await else {
        return;
    };
    let config = env.write_outside(
        "host.yaml",
        "tenants:\n  acme:\n    max-concurrent-executions: 1\n",
    );
    env.create_tenant("acme");
    let server = Serve::start(
        &env,
        &["--config", config.to_str().unwrap(), "--workers", "8"],
    );
    let acme = Client {
        base: server.base.clone(),
        token: token(&env, Some("acme")),
    };
    assert_eq!(acme.upload("testkit-reader", "testkit-reader").status, 201);
    let launches: Vec<_> = (0..6)
        .map(|i| {
            let acme = acme.clone();
            let job = slow_job(&format!("q{i}"), 2000);
            std::thread::spawn(move || acme.post("/api/v1/jobs", json!({ "job": job })))
        })
        .collect();
    let answers: Vec<Answer> = launches.into_iter().map(|t| t.join().unwrap()).collect();
    let accepted: Vec<&Answer> = answers.iter().filter(|a| a.status == 202).collect();
    let refused: Vec<&Answer> = answers.iter().filter(|a| a.status == 429).collect();
    assert_eq!(
        (accepted.len(), refused.len()),
        (1, 5),
        "{:?}",
        answers
            .iter()
            .map(|a| (a.status, a.text()))
            .collect::<Vec<_>>()
    );
    assert!(
        refused
            .iter()
            .all(|a| a.code() == "quota_exceeded"
                && a.text().contains("max-concurrent-executions: 1"))
    );
    let id = accepted[0].json()["execution"]["execution_id"]
        .as_i64()
        .unwrap();
    let a = acme.post_empty(&format!("/api/v1/executions/{id}/stop"));
    assert_eq!(a.status, 202, "{}", a.text());
    acme.wait_for(id, |s| s == "STOPPED" || s == "COMPLETED");
    // Once it ended, the next launch passes.
    let next = acme.launch(json!({ "job": slow_job("q-after", 5) }));
    assert_eq!(
        acme.wait_for(next, |s| s == "COMPLETED" || s == "FAILED")["status"],
        "COMPLETED"
    );
    drop(server);
    env.cleanup().await;
}
both_backends!(quota, quota_atomic);

/// `max-memory` and `max-cpus`: what the running executions of a tenant hold together. A slow
/// job (a reader and a writer, no processor) holds 5 plugin instances × 256 MiB (the default
/// memory limit) = 1.25 GiB and makes one guest call at a time.
async fn memory_and_cpu_quotas(backend: Backend) {
    let Some(env) = Env::new(backend).await else {
        return;
    };
    let config = env.write_outside(
        "host.yaml",
        "tenants:\n  mem:\n    max-memory: 2GiB\n  cpu:\n    max-cpus: 1\n  tiny:\n    max-memory: 100MiB\n",
    );
    let server = Serve::start(&env, &["--config", config.to_str().unwrap()]);
    for (tenant, quota) in [("mem", "max-memory of 2GiB"), ("cpu", "max-cpus of 1")] {
        env.create_tenant(tenant);
        let client = Client {
            base: server.base.clone(),
            token: token(&env, Some(tenant)),
        };
        assert_eq!(
            client.upload("testkit-reader", "testkit-reader").status,
            201
        );
        let first = client.launch(json!({ "job": slow_job("hold", 20000) }));
        client.wait_for(first, |s| s == "STARTED");
        let a = client.post("/api/v1/jobs", json!({ "job": slow_job("second", 5) }));
        assert_eq!(
            (a.status, a.code()),
            (429, "quota_exceeded".to_owned()),
            "{tenant}: {}",
            a.text()
        );
        assert!(a.text().contains(quota), "{tenant}: {}", a.text());
        assert_eq!(
            client
                .post_empty(&format!("/api/v1/executions/{first}/stop"))
                .status,
            202
        );
        client.wait_for(first, |s| s == "STOPPED" || s == "COMPLETED");
        // Released when it ended: the next one runs.
        let second = client.launch(json!({ "job": slow_job("second", 5) }));
        assert_eq!(
            client.wait_for(second, |s| s == "COMPLETED" || s == "FAILED")["status"],
            "COMPLETED"
        );
    }
    // A job that alone holds more than the quota can never start: refused when it is planned.
    env.create_tenant("tiny");
    let tiny = Client {
        base: server.base.clone(),
        token: token(&env, Some("tiny")),
    };
    let a = tiny.post("/api/v1/jobs/validate", json!({ "job": "name: t\nsteps:\n  - name: s\n    chunk: { size: 1, reader: { builtin: csv, config: { path: in.csv } }, writer: { builtin: jsonl, config: { path: o.jsonl } } }\n" }));
    assert_eq!(a.status, 422, "{}", a.text());
    assert!(
        a.text()
            .contains("more than tenant `tiny`'s max-memory of 100MiB"),
        "{}",
        a.text()
    );
    drop(server);
    env.cleanup().await;
}
both_backends!(memory_and_cpu, memory_and_cpu_quotas);

/// A server killed with a job running: the next server marks it FAILED, and a restart completes
/// it exactly once. A SIGTERM instead stops the running job restartably.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_crash_and_graceful_shutdown() {
    let env = Env::new(Backend::Sqlite).await.unwrap();
    env.create_tenant("acme");
    let acme_token = token(&env, Some("acme"));
    let mut server = Serve::start(&env, &[]);
    let acme = Client {
        base: server.base.clone(),
        token: acme_token.clone(),
    };
    assert_eq!(acme.upload("testkit-reader", "testkit-reader").status, 201);
    let id = acme.launch(json!({ "job": slow_job("crash", 3000) }));
    wait_commits(&acme, id, 5);
    server.kill9();
    let server = Serve::start(&env, &[]);
    let acme = Client {
        base: server.base.clone(),
        token: acme_token.clone(),
    };
    let recovered = acme.get(&format!("/api/v1/executions/{id}")).json();
    assert_eq!(recovered["status"], "FAILED", "{recovered}");
    let a = acme.post_empty(&format!("/api/v1/executions/{id}/restart"));
    assert_eq!(a.status, 202, "{}", a.text());
    let again = a.json()["execution"]["execution_id"].as_i64().unwrap();
    assert_eq!(
        acme.wait_for(again, |s| s != "STARTED" && s != "STARTING")["status"],
        "COMPLETED"
    );
    let out = std::fs::read_to_string(server.workdir("acme").join("crash.txt")).unwrap();
    assert_eq!(
        out.lines().count(),
        3000,
        "every item exactly once after the crash"
    );

    // SIGTERM with a job running: the server stops it after its chunk and exits 0.
    let mut server = server;
    let id = acme.launch(json!({ "job": slow_job("term", 3000) }));
    wait_commits(&acme, id, 5);
    assert_eq!(server.terminate(), Some(0));
    let server = Serve::start(&env, &[]);
    let acme = Client {
        base: server.base.clone(),
        token: acme_token,
    };
    let after = acme.get(&format!("/api/v1/executions/{id}")).json();
    assert_eq!(after["status"], "STOPPED", "{after}");
    let a = acme.post_empty(&format!("/api/v1/executions/{id}/restart"));
    assert_eq!(a.status, 202, "{}", a.text());
    let again = a.json()["execution"]["execution_id"].as_i64().unwrap();
    assert_eq!(
        acme.wait_for(again, |s| s != "STARTED" && s != "STARTING")["status"],
        "COMPLETED"
    );
    let out = std::fs::read_to_string(server.workdir("acme").join("term.txt")).unwrap();
    assert_eq!(out.lines().count(), 3000);
    drop(server);
}

/// Every operation of the OpenAPI document is served, and nothing under /api/v1 is served that
/// the document leaves out.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn openapi_matches_routes() {
    let env = Env::new(Backend::Sqlite).await.unwrap();
    let admin = token(&env, None);
    let server = Serve::start(&env, &[]);
    let doc = call(
        "GET",
        &format!("{}/api/v1/openapi.json", server.base),
        None,
        &[],
        None,
    )
    .json();
    let paths = doc["paths"].as_object().unwrap();
    let methods = ["get", "post", "put", "delete", "patch"];
    let mut served = 0;
    for (path, ops) in paths {
        let concrete = path
            .replace("{id}", "999")
            .replace("{name}", "absent-plugin");
        for m in methods {
            let a = call(
                &m.to_uppercase(),
                &format!("{}{concrete}", server.base),
                Some(&admin),
                &[],
                None,
            );
            let unrouted =
                a.status == 405 || (a.status == 404 && a.text().contains("no such endpoint"));
            if ops.get(m).is_some() {
                assert!(
                    !unrouted,
                    "{m} {path} is documented but not served: {} {}",
                    a.status,
                    a.text()
                );
                assert!(a.status < 500, "{m} {path}: {}", a.status);
                served += 1;
                let documented = ops[m]["responses"].as_object().unwrap();
                assert!(
                    documented.contains_key(&a.status.to_string()),
                    "{m} {path} answered {} which the document does not list",
                    a.status
                );
            } else {
                assert!(
                    unrouted,
                    "{m} {path} is served ({}) but not documented",
                    a.status
                );
            }
        }
    }
    assert!(served >= 18, "{served}");
    // Paths the document does not have are not served.
    for p in [
        "/api/v1/tokens",
        "/api/v1/admin",
        "/api/v2/health",
        "/api/v1/executions/1/delete",
    ] {
        let a = call(
            "GET",
            &format!("{}{p}", server.base),
            Some(&admin),
            &[],
            None,
        );
        assert_eq!(a.status, 404, "{p}");
    }
    drop(server);
}

/// `batch-host run --metrics-file` writes the same metrics for a CLI run, with exact counts.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn run_metrics_file() {
    let env = Env::new(Backend::Sqlite).await.unwrap();
    env.register(&["member-processor"]);
    env.write("members.csv", &members_csv(40, &[7, 19, 33]));
    env.write("job.yaml", MEMBERS_JOB);
    let file = env.dir.path().join("run.prom");
    let out = env.run(&["run", "job.yaml", "--metrics-file", file.to_str().unwrap()]);
    assert_success(&out);
    let text = std::fs::read_to_string(&file).unwrap();
    for want in [
        r#"batch_item_read_total{tenant="default",job="members",step="migrate"} 40"#,
        r#"batch_chunk_write_total{tenant="default",job="members",step="migrate"} 37"#,
        r#"batch_item_skip_total{tenant="default",job="members",step="migrate",phase="process"} 3"#,
        r#"batch_chunk_commit_total{tenant="default",job="members",step="migrate"} 5"#,
        r#"batch_job_total{tenant="default",job="members",status="COMPLETED"} 1"#,
        r#"batch_step_total{tenant="default",job="members",step="migrate",status="COMPLETED"} 1"#,
    ] {
        assert!(
            text.lines().any(|l| l == want),
            "missing `{want}` in\n{text}"
        );
    }
    assert!(
        text.contains("# TYPE batch_plugin_call_duration_seconds histogram"),
        "{text}"
    );
    // A plugin that traps: the sandbox fault is counted by plugin and kind — twice, as the chunk's
    // batch call traps and then the per-item call of the same item traps again before it is
    // skipped.
    env.register(&["panic-processor"]);
    env.write("traps.yaml", "name: traps\nsteps:\n  - name: s\n    chunk:\n      size: 10\n      reader: { builtin: csv, config: { path: members.csv } }\n      processor: { plugin: panic-processor, config: { panic-on: \"28\" } }\n      writer: { builtin: jsonl, config: { path: traps.jsonl } }\n      fault-tolerance: { skip: { kinds: [wasm.trap] } }\n");
    let traps = env.dir.path().join("traps.prom");
    assert_success(&env.run(&[
        "run",
        "traps.yaml",
        "--metrics-file",
        traps.to_str().unwrap(),
    ]));
    let text = std::fs::read_to_string(&traps).unwrap();
    for want in [
        r#"batch_sandbox_fault_total{plugin="panic-processor@0.1.0",kind="wasm.trap"} 2"#,
        r#"batch_item_skip_total{tenant="default",job="traps",step="s",phase="process"} 1"#,
    ] {
        assert!(
            text.lines().any(|l| l == want),
            "missing `{want}` in\n{text}"
        );
    }
    // An unwritable metrics file is an error naming it, after the run.
    let out = env.run(&[
        "run",
        "job.yaml",
        "--next",
        "--metrics-file",
        "/nonexistent/dir/x.prom",
    ]);
    assert_exit(&out, 4);
    assert!(
        stderr(&out).contains("/nonexistent/dir/x.prom"),
        "{}",
        stderr(&out)
    );
}

/// schemathesis drives every operation of the OpenAPI document with generated valid and invalid
/// input (admin token, so `/metrics` too): no 5xx, every answer as documented, invalid input
/// refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn openapi_schemathesis() {
    let env = Env::new(Backend::Sqlite).await.unwrap();
    let admin = token(&env, None);
    let server = Serve::start(&env, &[]);
    let out = std::process::Command::new(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../tests/api/schemathesis.sh"
    ))
    .args([&server.base, &admin])
    .output()
    .expect("run tests/api/schemathesis.sh");
    assert!(
        out.status.success(),
        "schemathesis found problems:\n{}\n{}",
        stdout(&out),
        stderr(&out)
    );
    assert!(stdout(&out).contains("passed"), "{}", stdout(&out));
    drop(server);
}
