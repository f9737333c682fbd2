//! OpenTelemetry export: a real OTLP/HTTP receiver (axum, in the test) gets the job, step and
//! chunk spans of a real run — none without `--otlp-endpoint`, protobuf by default, JSON on
//! request — and no log events (which may carry a guest's text).

use std::sync::{Arc, Mutex};

use serde_json::Value;

use crate::server::MEMBERS_JOB;
use crate::support::*;

/// What the collector received: (content type, body) per request.
type Received = Arc<Mutex<Vec<(String, Vec<u8>)>>>;

/// Starts an OTLP/HTTP trace receiver on a free port; its URL and what it receives.
async fn collector() -> (String, Received) {
    use axum::routing::post;
    let received: Received = Arc::default();
    let store = received.clone();
    let app = axum::Router::new().route(
        "/v1/traces",
        post(
            move |headers: axum::http::HeaderMap, body: axum::body::Bytes| {
                let store = store.clone();
                async move {
                    let ctype = headers
                        .get("content-type")
                        .and_then(|v| v.to_str().ok())
                        .unwrap_or_default()
                        .to_owned();
                    store.lock().unwrap().push((ctype, body.to_vec()));
                    axum::http::StatusCode::OK
                }
            },
        ),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    (url, received)
}

/// One exported span: its name, its attributes (key → value as text), how many events it has.
type Span = (String, Vec<(String, String)>, usize);

/// Every span of OTLP JSON bodies.
fn spans(bodies: &[(String, Vec<u8>)]) -> Vec<Span> {
    let mut out = Vec::new();
    for (_, body) in bodies {
        let v: Value = serde_json::from_slice(body).expect("an OTLP JSON body");
        for rs in v["resourceSpans"].as_array().into_iter().flatten() {
            for ss in rs["scopeSpans"].as_array().into_iter().flatten() {
                for s in ss["spans"].as_array().into_iter().flatten() {
                    let attrs = s["attributes"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .map(|a| {
                            let value = &a["value"];
                            let text = value["stringValue"]
                                .as_str()
                                .map(str::to_owned)
                                .or_else(|| value["intValue"].as_str().map(str::to_owned))
                                .unwrap_or_else(|| value.to_string());
                            (a["key"].as_str().unwrap_or_default().to_owned(), text)
                        })
                        .collect();
                    let events = s["events"].as_array().map_or(0, Vec::len);
                    out.push((
                        s["name"].as_str().unwrap_or_default().to_owned(),
                        attrs,
                        events,
                    ));
                }
            }
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn job_step_and_chunk_spans_reach_an_otlp_collector() {
    let env = Env::new(Backend::Sqlite).await.unwrap();
    env.register(&["member-processor"]);
    env.write("members.csv", &members_csv(40, &[7, 19, 33]));
    env.write("job.yaml", MEMBERS_JOB);
    let (url, received) = collector().await;

    // Off by default: nothing is sent.
    let out = env.run(&["run", "job.yaml", "--param", "run.id=1,long"]);
    assert_success(&out);
    assert!(received.lock().unwrap().is_empty());

    // JSON, to read the spans back.
    let out = env
        .command()
        .args([
            "run",
            "job.yaml",
            "--param",
            "run.id=2,long",
            "--otlp-endpoint",
            &url,
        ])
        .env("OTEL_EXPORTER_OTLP_PROTOCOL", "http/json")
        .output()
        .unwrap();
    assert_success(&out);
    let bodies = received.lock().unwrap().clone();
    assert!(
        bodies
            .iter()
            .all(|(t, _)| t.starts_with("application/json")),
        "{:?}",
        bodies.iter().map(|b| &b.0).collect::<Vec<_>>()
    );
    let spans = spans(&bodies);
    let named = |n: &str| spans.iter().filter(|s| s.0 == n).collect::<Vec<_>>();
    assert_eq!(named("batch.job").len(), 1, "{spans:?}");
    assert_eq!(named("batch.step").len(), 1, "{spans:?}");
    assert_eq!(
        named("batch.chunk").len(),
        5,
        "five chunk transactions: {spans:?}"
    );
    let job = &named("batch.job")[0].1;
    for (k, v) in [("job", "members"), ("tenant", "default")] {
        assert!(
            job.iter().any(|(a, b)| a == k && b == v),
            "{k}={v} in {job:?}"
        );
    }
    let step = &named("batch.step")[0].1;
    assert!(
        step.iter().any(|(a, b)| a == "step" && b == "migrate"),
        "{step:?}"
    );
    // Spans reach the collector in export batches, whose order is not the spans' order.
    let mut chunks: Vec<String> = named("batch.chunk")
        .iter()
        .filter_map(|s| {
            s.1.iter()
                .find(|(a, _)| a == "chunk")
                .map(|(_, v)| v.clone())
        })
        .collect();
    chunks.sort_by_key(|c| c.parse::<u64>().unwrap_or(u64::MAX));
    assert_eq!(chunks, ["1", "2", "3", "4", "5"].map(String::from));
    assert!(
        spans.iter().all(|s| s.2 == 0),
        "log events are not exported: {spans:?}"
    );

    // Protobuf by default.
    received.lock().unwrap().clear();
    let out = env.run(&[
        "run",
        "job.yaml",
        "--param",
        "run.id=3,long",
        "--otlp-endpoint",
        &url,
    ]);
    assert_success(&out);
    let bodies = received.lock().unwrap().clone();
    assert!(
        !bodies.is_empty()
            && bodies
                .iter()
                .all(|(t, b)| t == "application/x-protobuf" && !b.is_empty())
    );

    // A wrong endpoint or protocol is refused before anything runs.
    let out = env.run(&["run", "job.yaml", "--otlp-endpoint", "collector:4318"]);
    assert_exit(&out, 2);
    assert!(
        stderr(&out).contains("not an http:// URL"),
        "{}",
        stderr(&out)
    );
}
