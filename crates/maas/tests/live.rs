//! The client against the MAAS API test server: every endpoint, every failure mode, the OAuth
//! rules, and the live → file → model round trip.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use preflight_maas::server::{Fault, FaultKind, ServerOptions, TestServer};
use preflight_maas::{
    load_provider, model_from_path, model_from_snapshot, snapshot_from_fixture_dir, MaasClient,
    MaasError, ProviderSource, RetryPolicy,
};
use serde_json::{json, Value};

use crate::fixture_paths;

/// The made-up key of `tests/fixtures/maas/auth.json`.
const KEY: &str = "PfLtEsTcOnSuMeR001:PfLtEsTtOkEnKeY002:s3cr3tT0k3nS3cr3tF0rPr3fl1ght000";
const SECRET: &str = "s3cr3tT0k3nS3cr3tF0rPr3fl1ght000";

fn fixtures() -> PathBuf {
    fixture_paths::own("maas")
}

fn fixture(name: &str) -> Value {
    serde_json::from_str(&std::fs::read_to_string(fixtures().join(name)).unwrap()).unwrap()
}

async fn serve(faults: Vec<Fault>) -> TestServer {
    let snap = snapshot_from_fixture_dir(&fixtures()).unwrap();
    TestServer::start(
        snap,
        KEY,
        ServerOptions {
            listen: None,
            faults,
        },
    )
    .await
    .unwrap()
}

fn fast() -> RetryPolicy {
    RetryPolicy {
        max_attempts: 4,
        base_delay: Duration::from_millis(10),
        max_delay: Duration::from_secs(3),
        request_timeout: Duration::from_secs(10),
    }
}

fn client(server: &TestServer) -> MaasClient {
    MaasClient::with_retry(&server.url(), KEY, fast()).unwrap()
}

#[tokio::test]
async fn every_endpoint_is_served_verbatim() {
    let server = serve(vec![]).await;
    let c = client(&server);
    for (ep, file) in [
        ("version/", "version.json"),
        ("spaces/", "spaces.json"),
        ("subnets/", "subnets.json"),
        ("fabrics/", "fabrics.json"),
        ("fabrics/0/vlans/", "vlans-fabric-0.json"),
        ("fabrics/1/vlans/", "vlans-fabric-1.json"),
        ("machines/", "machines.json"),
        ("zones/", "zones.json"),
        ("resourcepools/", "resourcepools.json"),
        ("tags/", "tags.json"),
    ] {
        assert_eq!(c.get(ep).await.unwrap(), fixture(file), "{ep}");
    }
    // One machine and its interfaces: the same objects as in the machines list.
    let machines = fixture("machines.json");
    for id in ["k4p7ab", "m2q9cd", "r8t3ef", "w5n1gh"] {
        let want = machines
            .as_array()
            .unwrap()
            .iter()
            .find(|m| m["system_id"] == id)
            .unwrap();
        let m = c.get(&format!("machines/{id}/")).await.unwrap();
        assert_eq!(&m, want, "{id}");
        let i = c.get(&format!("nodes/{id}/interfaces/")).await.unwrap();
        assert_eq!(i, want["interface_set"], "{id}");
    }
    // Every request was signed, each with its own nonce.
    let reqs = server.requests();
    assert_eq!(reqs.len(), 18);
    assert!(reqs.iter().all(|r| r.status == 200));
    let nonces: std::collections::HashSet<_> = reqs.iter().map(|r| r.nonce.clone()).collect();
    assert_eq!(nonces.len(), 18);
    assert!(nonces.iter().all(Option::is_some));
}

#[tokio::test]
async fn responses_are_json_with_maas_content_type() {
    let server = serve(vec![]).await;
    let key = preflight_maas::oauth::ApiKey::parse(KEY).unwrap();
    let r = reqwest::Client::new()
        .get(format!("{}/api/2.0/machines/", server.url()))
        .header("Authorization", key.authorization())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["content-type"], "application/json");
}

#[tokio::test]
async fn snapshot_round_trip_live_file_model() {
    let server = serve(vec![]).await;
    let snap = client(&server).snapshot().await.unwrap();
    let fixture_snap = snapshot_from_fixture_dir(&fixtures()).unwrap();
    assert_eq!(
        snap, fixture_snap,
        "the snapshot holds MAAS's responses verbatim"
    );
    let live_model = model_from_snapshot(&snap).unwrap();

    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("snap.json");
    std::fs::write(&file, serde_json::to_vec_pretty(&snap).unwrap()).unwrap();
    assert_eq!(model_from_path(&file).unwrap(), live_model);

    let via_live = load_provider(&ProviderSource::Live {
        url: server.url(),
        api_key: KEY.to_string(),
    })
    .await
    .unwrap();
    let via_file = load_provider(&ProviderSource::File(file)).await.unwrap();
    assert_eq!(via_live, via_file);
    assert_eq!(via_live, live_model);
    assert_eq!(via_live.machines.len(), 4);
    assert_eq!(via_live.vlans[&7006].mtu, 9000);
}

#[tokio::test]
async fn minimal_snapshot_served_reads_back_the_same() {
    // The smallest snapshot a generator may write: the four required endpoints.
    let mut snap = snapshot_from_fixture_dir(&fixtures()).unwrap();
    for k in ["version", "zones", "tags", "resourcepools", "vlans"] {
        snap.as_object_mut().unwrap().remove(k);
    }
    let from_file = model_from_snapshot(&snap).unwrap();
    let server = TestServer::start(snap, KEY, ServerOptions::default())
        .await
        .unwrap();
    let live = load_provider(&ProviderSource::Live {
        url: server.url(),
        api_key: KEY.to_string(),
    })
    .await
    .unwrap();
    assert_eq!(live, from_file);
    assert_eq!(live.version, None);
}

#[tokio::test]
async fn url_forms_are_accepted() {
    let server = serve(vec![]).await;
    for url in [
        server.url(),
        format!("{}/", server.url()),
        format!("{}/api/2.0/", server.url()),
    ] {
        let c = MaasClient::with_retry(&url, KEY, fast()).unwrap();
        assert_eq!(
            c.get("zones/").await.unwrap(),
            fixture("zones.json"),
            "{url}"
        );
    }
}

fn assert_no_secret(e: &MaasError) {
    let s = e.to_string();
    assert!(!s.contains(SECRET), "secret leaked: {s}");
    assert!(!s.contains("Authorization Error"), "401 body leaked: {s}");
    assert!(!format!("{e:?}").contains(SECRET), "secret leaked in Debug");
}

#[tokio::test]
async fn unauthorized_says_key_wrong_or_revoked_and_hides_the_body() {
    let server = serve(vec![Fault::always(FaultKind::Unauthorized)]).await;
    let e = client(&server).snapshot().await.unwrap_err();
    assert!(matches!(e, MaasError::Unauthorized { .. }), "{e}");
    assert!(e.to_string().contains("wrong or has been revoked"), "{e}");
    assert_no_secret(&e);
    assert_eq!(server.requests().len(), 1, "401 is not retried");
}

#[tokio::test]
async fn wrong_secret_is_a_401_whose_body_is_never_shown() {
    let server = serve(vec![]).await;
    let wrong = "PfLtEsTcOnSuMeR001:PfLtEsTtOkEnKeY002:WRONGWRONGWRONGWRONGWRONGWRONG12";
    let c = MaasClient::with_retry(&server.url(), wrong, fast()).unwrap();
    let e = c.get("spaces/").await.unwrap_err();
    assert!(matches!(e, MaasError::Unauthorized { .. }), "{e}");
    assert_no_secret(&e);
    assert!(!e.to_string().contains("WRONGWRONG"));
    let e = MaasClient::with_retry(&server.url(), "a:b:c", fast())
        .unwrap()
        .get("spaces/")
        .await
        .unwrap_err();
    assert!(
        matches!(e, MaasError::Unauthorized { .. }),
        "unknown consumer: {e}"
    );
}

#[tokio::test]
async fn unavailable_with_retry_after_then_success() {
    let server = serve(vec![Fault::times(
        FaultKind::Unavailable {
            retry_after: Some(1),
        },
        2,
    )
    .on("spaces/")])
    .await;
    let start = Instant::now();
    let v = client(&server).get("spaces/").await.unwrap();
    assert_eq!(v, fixture("spaces.json"));
    assert!(
        start.elapsed() >= Duration::from_secs(2),
        "Retry-After: 1 honoured twice, took {:?}",
        start.elapsed()
    );
    let reqs = server.requests();
    let statuses: Vec<u16> = reqs.iter().map(|r| r.status).collect();
    assert_eq!(statuses, [503, 503, 200]);
    let mut nonces: Vec<_> = reqs.iter().map(|r| r.nonce.clone().unwrap()).collect();
    nonces.dedup();
    assert_eq!(nonces.len(), 3, "fresh nonce on every retry");
}

#[tokio::test]
async fn retry_after_is_capped() {
    let server = serve(vec![Fault::times(
        FaultKind::Unavailable {
            retry_after: Some(3600),
        },
        1,
    )])
    .await;
    let policy = RetryPolicy {
        max_delay: Duration::from_millis(200),
        ..fast()
    };
    let c = MaasClient::with_retry(&server.url(), KEY, policy).unwrap();
    let start = Instant::now();
    c.get("zones/").await.unwrap();
    assert!(
        start.elapsed() < Duration::from_secs(5),
        "{:?}",
        start.elapsed()
    );
}

#[tokio::test]
async fn conflict_and_gateway_timeout_are_retried() {
    let server = serve(vec![
        Fault::times(
            FaultKind::Conflict {
                retry_after: Some(0),
            },
            1,
        )
        .on("machines/"),
        Fault::times(FaultKind::GatewayTimeout, 2).on("subnets/"),
    ])
    .await;
    let c = client(&server);
    assert_eq!(c.get("machines/").await.unwrap(), fixture("machines.json"));
    assert_eq!(c.get("subnets/").await.unwrap(), fixture("subnets.json"));
    let statuses: Vec<u16> = server.requests().iter().map(|r| r.status).collect();
    assert_eq!(statuses, [409, 200, 504, 504, 200]);
}

#[tokio::test]
async fn retries_are_bounded() {
    let server = serve(vec![Fault::always(FaultKind::Unavailable {
        retry_after: None,
    })])
    .await;
    let e = client(&server).get("tags/").await.unwrap_err();
    match &e {
        MaasError::RetriesExhausted {
            attempts, endpoint, ..
        } => {
            assert_eq!(*attempts, 4);
            assert_eq!(endpoint, "tags/");
        }
        other => panic!("{other}"),
    }
    assert!(e.to_string().contains("503"), "{e}");
    assert_eq!(server.requests().len(), 4);
}

#[tokio::test]
async fn forbidden_and_not_found() {
    let server = serve(vec![Fault::always(FaultKind::Forbidden).on("machines/")]).await;
    let c = client(&server);
    let e = c.get("machines/").await.unwrap_err();
    assert!(matches!(e, MaasError::Forbidden { .. }), "{e}");
    assert!(e.to_string().contains("403"), "{e}");
    let e = c.get("nothing-here/").await.unwrap_err();
    assert!(matches!(e, MaasError::NotFound { .. }), "{e}");
    assert!(e.to_string().contains("nothing-here/"), "{e}");
    // A URL that is not the MAAS root.
    let wrong = MaasClient::with_retry(&format!("{}/wrong", server.url()), KEY, fast()).unwrap();
    let e = wrong.snapshot().await.unwrap_err();
    assert!(matches!(e, MaasError::NotFound { .. }), "{e}");
    assert!(e.to_string().contains("http://maas:5240/MAAS"), "{e}");
}

#[tokio::test]
async fn connection_refused() {
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let c = MaasClient::with_retry(&format!("http://127.0.0.1:{port}/MAAS"), KEY, fast()).unwrap();
    let start = Instant::now();
    let e = c.snapshot().await.unwrap_err();
    assert!(matches!(e, MaasError::ConnectionRefused { .. }), "{e}");
    assert!(e.to_string().contains("connection refused"), "{e}");
    assert!(
        start.elapsed() < Duration::from_secs(2),
        "refused is not retried"
    );
}

#[tokio::test]
async fn tls_failure() {
    let server = serve(vec![]).await;
    let url = server.url().replacen("http://", "https://", 1);
    let c = MaasClient::with_retry(&url, KEY, fast()).unwrap();
    let e = c.get("version/").await.unwrap_err();
    assert!(matches!(e, MaasError::Tls { .. }), "{e}");
    assert!(e.to_string().starts_with("TLS failure"), "{e}");
}

#[tokio::test]
async fn slow_responses_time_out_and_are_retried() {
    let server = serve(vec![Fault::times(
        FaultKind::Delay(Duration::from_secs(3)),
        1,
    )
    .on("zones/")])
    .await;
    let policy = RetryPolicy {
        request_timeout: Duration::from_millis(500),
        ..fast()
    };
    let c = MaasClient::with_retry(&server.url(), KEY, policy.clone()).unwrap();
    assert_eq!(c.get("zones/").await.unwrap(), fixture("zones.json"));

    server.add_fault(Fault::always(FaultKind::Delay(Duration::from_secs(3))).on("tags/"));
    let e = c.get("tags/").await.unwrap_err();
    assert!(matches!(e, MaasError::RetriesExhausted { .. }), "{e}");
    assert!(e.to_string().contains("no answer from tags/"), "{e}");
}

#[tokio::test]
async fn truncated_body_names_the_endpoint() {
    let server = serve(vec![Fault::always(FaultKind::TruncatedBody).on("machines/")]).await;
    let e = client(&server).snapshot().await.unwrap_err();
    match &e {
        MaasError::Json { origin, message } => {
            assert!(origin.ends_with("/api/2.0/machines/"), "{origin}");
            assert!(message.contains("EOF"), "{message}");
        }
        other => panic!("{other}"),
    }
}

#[tokio::test]
async fn dropped_connection_mid_body_is_retried() {
    let server = serve(vec![Fault::times(FaultKind::DropMidBody, 1).on("machines/")]).await;
    let c = client(&server);
    assert_eq!(c.get("machines/").await.unwrap(), fixture("machines.json"));
    assert_eq!(server.requests().len(), 2);
    server.add_fault(Fault::always(FaultKind::DropMidBody).on("subnets/"));
    let e = c.get("subnets/").await.unwrap_err();
    assert!(matches!(e, MaasError::RetriesExhausted { .. }), "{e}");
}

#[tokio::test]
async fn non_json_body_names_the_endpoint() {
    let server = serve(vec![Fault::always(FaultKind::NotJson).on("subnets/")]).await;
    let e = client(&server).get("subnets/").await.unwrap_err();
    assert!(matches!(e, MaasError::Json { .. }), "{e}");
    assert!(e.to_string().contains("subnets/: not valid JSON"), "{e}");
}

#[tokio::test]
async fn wrong_shapes_name_the_endpoint_and_field() {
    let mut m = fixture("machines.json");
    m[2]["interface_set"][1]["links"] = json!({"not": "a list"});
    let server = serve(vec![
        Fault::always(FaultKind::ReplaceBody(m)).on("machines/")
    ])
    .await;
    let e = load_provider(&ProviderSource::Live {
        url: server.url(),
        api_key: KEY.to_string(),
    })
    .await
    .unwrap_err();
    match &e {
        MaasError::Shape { origin, path, .. } => {
            assert_eq!(origin, &server.url());
            assert_eq!(path, "machines[2].interface_set[1].links");
        }
        other => panic!("{other}"),
    }

    let server = serve(vec![Fault::always(FaultKind::ReplaceBody(
        json!({"id": 1}),
    ))
    .on("fabrics/")])
    .await;
    let e = client(&server).snapshot().await.unwrap_err();
    assert!(e.to_string().contains("fabrics"), "{e}");

    let server = serve(vec![Fault::always(FaultKind::ReplaceBody(
        json!([{"id": "zero", "name": "fabric-0"}]),
    ))
    .on("fabrics/")])
    .await;
    let e = client(&server).snapshot().await.unwrap_err();
    assert!(e.to_string().contains("fabrics[0].id"), "{e}");
}

// --- The server's OAuth rules, with hand-made headers. ---

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

async fn get_raw(server: &TestServer, path: &str, auth: Option<&str>) -> (u16, String) {
    let mut req = reqwest::Client::new().get(format!("{}/api/2.0/{path}", server.url()));
    if let Some(a) = auth {
        req = req.header("Authorization", a);
    }
    let r = req.send().await.unwrap();
    let status = r.status().as_u16();
    (status, r.text().await.unwrap())
}

fn header(nonce: &str, ts: i64) -> String {
    preflight_maas::oauth::ApiKey::parse(KEY)
        .unwrap()
        .authorization_with(nonce, ts)
}

#[tokio::test]
async fn anonymous_requests_are_answered_like_maas() {
    let server = serve(vec![]).await;
    assert_eq!(get_raw(&server, "version/", None).await.0, 200);
    for ep in [
        "spaces/",
        "subnets/",
        "fabrics/",
        "fabrics/0/vlans/",
        "tags/",
        "zones/",
    ] {
        assert_eq!(
            get_raw(&server, ep, None).await,
            (401, "Forbidden".to_string()),
            "{ep}"
        );
    }
    for ep in ["machines/", "nodes/", "nodes/m2q9cd/interfaces/"] {
        assert_eq!(
            get_raw(&server, ep, None).await,
            (
                400,
                "Unrecognised signature: method=GET op=None".to_string()
            ),
            "{ep}"
        );
    }
}

#[tokio::test]
async fn each_missing_oauth_parameter_makes_the_request_anonymous() {
    let server = serve(vec![]).await;
    for (i, p) in preflight_maas::oauth::REQUIRED_PARAMS.iter().enumerate() {
        let h = header(&format!("n{i}"), now());
        let without: Vec<&str> = h.split(", ").filter(|part| !part.contains(p)).collect();
        let (status, body) = get_raw(&server, "spaces/", Some(&without.join(", "))).await;
        assert_eq!((status, body.as_str()), (401, "Forbidden"), "without {p}");
    }
}

#[tokio::test]
async fn oauth_signature_timestamp_nonce_and_version_are_checked() {
    let server = serve(vec![]).await;
    let t = now();
    assert_eq!(
        get_raw(&server, "spaces/", Some(&header("ok-1", t)))
            .await
            .0,
        200
    );

    // Reused nonce.
    let (s, body) = get_raw(&server, "spaces/", Some(&header("ok-1", t))).await;
    assert_eq!(s, 401);
    assert!(
        body.starts_with("Authorization Error: 'Nonce already used: "),
        "{body}"
    );

    // Stale timestamp (more than 300 s old), and one just inside the window.
    let (s, body) = get_raw(&server, "spaces/", Some(&header("old", t - 301))).await;
    assert_eq!(s, 401);
    assert!(
        body.starts_with("Authorization Error: 'Expired timestamp: given "),
        "{body}"
    );
    assert_eq!(
        get_raw(&server, "spaces/", Some(&header("recent", t - 200)))
            .await
            .0,
        200
    );
    // Future timestamps are accepted, as piston does.
    assert_eq!(
        get_raw(&server, "spaces/", Some(&header("future", t + 3600)))
            .await
            .0,
        200
    );

    // Bad signature: the body echoes the expected one (which is why clients hide it).
    let bad = header("sig", t).replace("%26s3cr", "%26XXXX");
    let (s, body) = get_raw(&server, "spaces/", Some(&bad)).await;
    assert_eq!(s, 401);
    assert!(
        body.starts_with("Authorization Error: 'Invalid signature."),
        "{body}"
    );
    // Signature without the leading `&`.
    let bad = header("sig2", t).replace("%26s3cr", "s3cr");
    assert_eq!(get_raw(&server, "spaces/", Some(&bad)).await.0, 401);

    let bad = header("ver", t).replace("oauth_version=\"1.0\"", "oauth_version=\"2.0\"");
    assert_eq!(get_raw(&server, "spaces/", Some(&bad)).await.0, 401);
    let bad = header("m", t).replace("PLAINTEXT", "HMAC-SHA1");
    assert_eq!(get_raw(&server, "spaces/", Some(&bad)).await.0, 401);

    let bad = header("ck", t).replace("PfLtEsTcOnSuMeR001", "UnknownConsumer123");
    assert_eq!(
        get_raw(&server, "spaces/", Some(&bad)).await,
        (401, "Authorization Error: Invalid API key.".to_string())
    );
    let bad = header("tk", t).replace("PfLtEsTtOkEnKeY002", "RevokedToken123456");
    let (s, body) = get_raw(&server, "spaces/", Some(&bad)).await;
    assert_eq!(s, 401);
    assert!(
        body.starts_with("Authorization Error: 'Invalid access token: "),
        "{body}"
    );
}

#[tokio::test]
async fn the_three_client_header_styles_of_the_fixtures_are_accepted() {
    let server = serve(vec![]).await;
    let auth = fixture("auth.json");
    for (style, h) in auth["example_headers"].as_object().unwrap() {
        let h = h.as_str().unwrap();
        // As given, their timestamps are long stale.
        assert_eq!(get_raw(&server, "zones/", Some(h)).await.0, 401, "{style}");
        let fresh = h.replace("1700000000", &now().to_string());
        assert_eq!(
            get_raw(&server, "zones/", Some(&fresh)).await.0,
            200,
            "{style}"
        );
    }
}

#[tokio::test]
async fn maas_error_bodies_for_unknown_objects_and_paths() {
    let server = serve(vec![]).await;
    let t = now();
    let cases = [
        (
            "machines/xxxxxx/",
            404,
            "No Machine matches the given query.",
        ),
        (
            "nodes/xxxxxx/interfaces/",
            404,
            "No Node matches the given query.",
        ),
        (
            "fabrics/99/vlans/",
            404,
            "No Fabric matches the given query.",
        ),
        (
            "nonexistent/",
            404,
            "Unknown API endpoint: /MAAS/api/2.0/nonexistent/.",
        ),
    ];
    for (i, (path, status, body)) in cases.into_iter().enumerate() {
        let got = get_raw(&server, path, Some(&header(&format!("e{i}"), t))).await;
        assert_eq!(got, (status, body.to_string()), "{path}");
    }
    let r = reqwest::get(format!("{}/api/1.0/nodes/", server.url()))
        .await
        .unwrap();
    assert_eq!(r.status(), 410);
}

#[tokio::test]
async fn server_listens_where_told_and_stops_on_drop() {
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let addr: std::net::SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    let snap = snapshot_from_fixture_dir(&fixtures()).unwrap();
    let server = TestServer::start(
        snap,
        KEY,
        ServerOptions {
            listen: Some(addr),
            faults: vec![],
        },
    )
    .await
    .unwrap();
    assert_eq!(server.url(), format!("http://127.0.0.1:{port}/MAAS"));
    assert_eq!(get_raw(&server, "version/", None).await.0, 200);
    drop(server);
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(std::net::TcpStream::connect(addr).is_err());
}
