//! A MAAS API stand-in for tests and demos: serves a snapshot at MAAS's paths under
//! `/MAAS/api/2.0/`, enforces piston's OAuth rules, answers errors with MAAS's bodies, and can
//! be told to fail (see [`Fault`]).
//!
//! ```no_run
//! # async fn demo() -> Result<(), preflight_maas::MaasError> {
//! use preflight_maas::server::{ServerOptions, TestServer};
//! let snap = preflight_maas::snapshot_from_fixture_dir("fixtures/maas".as_ref())?;
//! let server = TestServer::start(snap, "ck:tk:secret", ServerOptions::default()).await?;
//! println!("MAAS at {}", server.url()); // http://127.0.0.1:PORT/MAAS
//! # Ok(()) }
//! ```

use std::collections::{HashMap, HashSet};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use serde_json::Value;

use crate::oauth::{parse_header, ApiKey};
use crate::MaasError;

/// Prefix of every API path.
pub const API_PREFIX: &str = "/MAAS/api/2.0/";

/// How far in the past a timestamp may be, as piston's `timestamp_threshold`.
pub const TIMESTAMP_THRESHOLD_SECS: i64 = 300;

/// What a fault does to a request it matches.
#[derive(Debug, Clone)]
pub enum FaultKind {
    /// 401 `Authorization Error: Invalid API key.` (a revoked or unknown key).
    Unauthorized,
    /// 403 `User is not allowed access to this API.`
    Forbidden,
    /// 404 with MAAS's text body.
    NotFound,
    /// 409 (database serialization failure), with `Retry-After` when given.
    Conflict {
        /// Seconds for the `Retry-After` header.
        retry_after: Option<u64>,
    },
    /// 503 (no rack controller), with `Retry-After` when given.
    Unavailable {
        /// Seconds for the `Retry-After` header.
        retry_after: Option<u64>,
    },
    /// 504 (RPC timeout).
    GatewayTimeout,
    /// Wait this long, then answer normally.
    Delay(Duration),
    /// A complete 200 response whose JSON body is cut in half.
    TruncatedBody,
    /// A 200 response that sends half its body, then drops the connection.
    DropMidBody,
    /// A 200 response with this JSON instead of the real body (wrong shapes).
    ReplaceBody(Value),
    /// A 200 HTML page instead of JSON.
    NotJson,
}

/// A fault: which requests it hits, what it does, and how many times.
#[derive(Debug, Clone)]
pub struct Fault {
    /// API path prefix relative to `/MAAS/api/2.0/` (e.g. `machines/`); `None` hits every path.
    pub endpoint: Option<String>,
    /// What to do.
    pub kind: FaultKind,
    /// How many requests it hits; `None` for all of them.
    pub times: Option<u32>,
}

impl Fault {
    /// A fault on every request, forever.
    pub fn always(kind: FaultKind) -> Self {
        Fault {
            endpoint: None,
            kind,
            times: None,
        }
    }

    /// A fault on the first `n` requests.
    pub fn times(kind: FaultKind, n: u32) -> Self {
        Fault {
            endpoint: None,
            kind,
            times: Some(n),
        }
    }

    /// Restricts the fault to paths starting with `endpoint` (relative to `/MAAS/api/2.0/`).
    pub fn on(mut self, endpoint: &str) -> Self {
        self.endpoint = Some(endpoint.to_string());
        self
    }
}

/// How to run the server.
#[derive(Debug, Clone, Default)]
pub struct ServerOptions {
    /// Address to listen on; `127.0.0.1:0` (an ephemeral port) when `None`.
    pub listen: Option<SocketAddr>,
    /// Faults, tried in order; the first that matches a request and has hits left applies.
    pub faults: Vec<Fault>,
}

/// One request the server saw (for tests: which path, what status, which nonce).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestRecord {
    /// Path, e.g. `/MAAS/api/2.0/machines/`.
    pub path: String,
    /// Status answered.
    pub status: u16,
    /// `oauth_nonce` of the request, when signed.
    pub nonce: Option<String>,
    /// `oauth_timestamp` of the request, when signed.
    pub timestamp: Option<String>,
}

struct State {
    snapshot: Value,
    key: ApiKey,
    faults: Mutex<Vec<(Fault, Option<u32>)>>,
    nonces: Mutex<HashSet<(String, String, String)>>,
    log: Mutex<Vec<RequestRecord>>,
}

/// A running MAAS stand-in. Stops when dropped.
pub struct TestServer {
    addr: SocketAddr,
    state: Arc<State>,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<()>,
}

impl TestServer {
    /// Starts serving `snapshot` (see [`crate::snapshot`]) for the API key
    /// `consumer:token:secret`. Must be called inside a tokio runtime.
    pub async fn start(
        snapshot: Value,
        api_key: &str,
        options: ServerOptions,
    ) -> Result<TestServer, MaasError> {
        let key = ApiKey::parse(api_key)?;
        if !snapshot.is_object() {
            return Err(MaasError::shape(
                "served snapshot",
                ".".to_string(),
                "a snapshot is a JSON object keyed by endpoint".to_string(),
            ));
        }
        let listen = options
            .listen
            .unwrap_or_else(|| SocketAddr::from(([127, 0, 0, 1], 0)));
        let listener = tokio::net::TcpListener::bind(listen)
            .await
            .map_err(|source| MaasError::Io {
                path: format!("listen address {listen}"),
                error: source,
            })?;
        let addr = listener.local_addr().map_err(|source| MaasError::Io {
            path: format!("listen address {listen}"),
            error: source,
        })?;
        let state = Arc::new(State {
            snapshot,
            key,
            faults: Mutex::new(
                options
                    .faults
                    .into_iter()
                    .map(|f| {
                        let left = f.times;
                        (f, left)
                    })
                    .collect(),
            ),
            nonces: Mutex::new(HashSet::new()),
            log: Mutex::new(Vec::new()),
        });
        let app_state = state.clone();
        let app =
            axum::Router::new().fallback(move |method: Method, uri: Uri, headers: HeaderMap| {
                let st = app_state.clone();
                async move { handle(st, method, uri, headers).await }
            });
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app)
                .with_graceful_shutdown(async {
                    let _ = rx.await;
                })
                .await;
        });
        Ok(TestServer {
            addr,
            state,
            shutdown: Some(tx),
            task,
        })
    }

    /// The MAAS URL clients are given, e.g. `http://127.0.0.1:40123/MAAS`.
    pub fn url(&self) -> String {
        format!("http://{}/MAAS", self.addr)
    }

    /// The socket address served.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Every request seen so far, in order.
    pub fn requests(&self) -> Vec<RequestRecord> {
        lock(&self.state.log).clone()
    }

    /// Adds a fault while running.
    pub fn add_fault(&self, fault: Fault) {
        let left = fault.times;
        lock(&self.state.faults).push((fault, left));
    }

    /// Removes every fault.
    pub fn clear_faults(&self) {
        lock(&self.state.faults).clear();
    }

    /// Serves until the process is stopped (for `preflight maas serve`).
    pub async fn wait(mut self) {
        let task = std::mem::replace(&mut self.task, tokio::spawn(async {}));
        let _ = task.await;
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        self.task.abort();
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

fn text(status: StatusCode, content_type: &'static str, body: impl Into<String>) -> Response {
    let mut r = (status, body.into()).into_response();
    r.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    r
}

fn json_bytes(bytes: Bytes) -> Response {
    let mut r = Response::new(Body::from(bytes));
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    r
}

fn with_retry_after(mut r: Response, secs: Option<u64>) -> Response {
    if let Some(s) = secs {
        if let Ok(v) = HeaderValue::from_str(&s.to_string()) {
            r.headers_mut().insert(header::RETRY_AFTER, v);
        }
    }
    r
}

fn unauthorized(body: String) -> Response {
    let mut r = text(StatusCode::UNAUTHORIZED, "text/html; charset=utf-8", body);
    r.headers_mut().insert(
        header::WWW_AUTHENTICATE,
        HeaderValue::from_static("OAuth realm=\"OAuth\""),
    );
    r
}

enum Auth {
    Anonymous,
    Ok,
    Rejected(Response),
}

/// Piston's checks, in its order: version, consumer, token, timestamp, nonce, signature.
fn authenticate(state: &State, headers: &HeaderMap) -> (Auth, Option<String>, Option<String>) {
    let Some(raw) = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
    else {
        return (Auth::Anonymous, None, None);
    };
    let Some(p) = parse_header(raw) else {
        return (Auth::Anonymous, None, None);
    };
    let nonce = p.get("oauth_nonce").cloned();
    let ts = p.get("oauth_timestamp").cloned();
    let reject = |body: String| {
        (
            Auth::Rejected(unauthorized(body)),
            nonce.clone(),
            ts.clone(),
        )
    };
    if let Some(v) = p.get("oauth_version") {
        if v != "1.0" {
            return reject(format!(
                "Authorization Error: 'OAuth version {v} not supported.'"
            ));
        }
    }
    if p["oauth_consumer_key"] != state.key.consumer_key {
        return reject("Authorization Error: Invalid API key.".to_string());
    }
    if p["oauth_token"] != state.key.token_key {
        return reject(format!(
            "Authorization Error: 'Invalid access token: {}'",
            p["oauth_token"]
        ));
    }
    let now = chrono::Utc::now().timestamp();
    match p["oauth_timestamp"].parse::<i64>() {
        Ok(t) if now - t <= TIMESTAMP_THRESHOLD_SECS => {}
        _ => {
            return reject(format!(
                "Authorization Error: 'Expired timestamp: given {} and now {now} has a greater \
                 difference than threshold {TIMESTAMP_THRESHOLD_SECS}'",
                p["oauth_timestamp"]
            ))
        }
    }
    let fresh = lock(&state.nonces).insert((
        p["oauth_consumer_key"].clone(),
        p["oauth_token"].clone(),
        p["oauth_nonce"].clone(),
    ));
    if !fresh {
        return reject(format!(
            "Authorization Error: 'Nonce already used: {}'",
            p["oauth_nonce"]
        ));
    }
    let method = &p["oauth_signature_method"];
    if method != "PLAINTEXT" {
        return reject(format!(
            "Authorization Error: 'Signature method {method} not supported.'"
        ));
    }
    let expected = format!("&{}", state.key.token_secret);
    if p["oauth_signature"] != expected {
        // Like piston, the body echoes the expected signature: clients must never show it.
        return reject(format!(
            "Authorization Error: 'Invalid signature. Expected signature base string: {expected}'"
        ));
    }
    (Auth::Ok, nonce, ts)
}

/// The response for an authenticated GET of `rel` (path relative to `/MAAS/api/2.0/`).
fn route(state: &State, rel: &str, full: &str) -> Response {
    let snap = &state.snapshot;
    let list = |key: &str| -> Response {
        match snap.get(key) {
            Some(v) => json_bytes(Bytes::from(serde_json::to_vec(v).unwrap_or_default())),
            None => json_bytes(Bytes::from_static(b"[]")),
        }
    };
    let segs: Vec<&str> = rel.trim_end_matches('/').split('/').collect();
    match segs.as_slice() {
        ["version"] => match snap.get("version") {
            Some(v) => json_bytes(Bytes::from(serde_json::to_vec(v).unwrap_or_default())),
            None => json_bytes(Bytes::from_static(
                // No version in the snapshot: say so, rather than invent one, so the
                // model read through the server equals the model read from the file.
                br#"{"capabilities": [], "version": null, "subversion": ""}"#,
            )),
        },
        [k
        @ ("spaces" | "subnets" | "fabrics" | "machines" | "zones" | "tags" | "resourcepools")] => {
            list(k)
        }
        // Served when the snapshot has it; otherwise 404, as from a MAAS without the
        // endpoint, so a snapshot taken through the stand-in equals the file it serves.
        ["ipranges"] if snap.get("ipranges").is_some() => list("ipranges"),
        ["nodes"] => list("machines"),
        ["fabrics", id, "vlans"] => {
            if let Some(v) = snap.get("vlans").and_then(|v| v.get(*id)) {
                return json_bytes(Bytes::from(serde_json::to_vec(v).unwrap_or_default()));
            }
            let fabric = snap
                .get("fabrics")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .find(|f| f.get("id").map(Value::to_string).as_deref() == Some(*id));
            match fabric {
                Some(f) => json_bytes(Bytes::from(
                    serde_json::to_vec(f.get("vlans").unwrap_or(&Value::Array(vec![])))
                        .unwrap_or_default(),
                )),
                None => text(
                    StatusCode::NOT_FOUND,
                    "text/plain",
                    "No Fabric matches the given query.",
                ),
            }
        }
        ["machines", id] => match find_machine(snap, id) {
            Some(m) => json_bytes(Bytes::from(serde_json::to_vec(m).unwrap_or_default())),
            None => text(
                StatusCode::NOT_FOUND,
                "text/plain",
                "No Machine matches the given query.",
            ),
        },
        ["nodes", id, "interfaces"] => match find_machine(snap, id) {
            Some(m) => json_bytes(Bytes::from(
                serde_json::to_vec(m.get("interface_set").unwrap_or(&Value::Array(vec![])))
                    .unwrap_or_default(),
            )),
            None => text(
                StatusCode::NOT_FOUND,
                "text/plain",
                "No Node matches the given query.",
            ),
        },
        _ => text(
            StatusCode::NOT_FOUND,
            "text/plain; charset=utf-8",
            format!("Unknown API endpoint: {full}."),
        ),
    }
}

fn find_machine<'a>(snap: &'a Value, id: &str) -> Option<&'a Value> {
    snap.get("machines")?
        .as_array()?
        .iter()
        .find(|m| m.get("system_id").and_then(Value::as_str) == Some(id))
}

/// Whether the path names an endpoint MAAS serves (unknown paths get 404 without auth).
fn known_endpoint(rel: &str) -> bool {
    let segs: Vec<&str> = rel.trim_end_matches('/').split('/').collect();
    matches!(
        segs.as_slice(),
        ["version"
            | "spaces"
            | "subnets"
            | "fabrics"
            | "machines"
            | "zones"
            | "tags"
            | "resourcepools"
            | "ipranges"]
            | ["fabrics", _, "vlans"]
            | ["machines", _]
            | ["nodes", _, "interfaces"]
            | ["nodes"]
    ) && rel.ends_with('/')
}

/// Takes one hit of the first matching fault with hits left.
fn take_fault(state: &State, rel: &str) -> Option<FaultKind> {
    let mut faults = lock(&state.faults);
    for (f, left) in faults.iter_mut() {
        if let Some(ep) = &f.endpoint {
            if !rel.starts_with(ep.as_str()) {
                continue;
            }
        }
        match left {
            Some(0) => continue,
            Some(n) => *n -= 1,
            None => {}
        }
        return Some(f.kind.clone());
    }
    None
}

async fn handle(state: Arc<State>, method: Method, uri: Uri, headers: HeaderMap) -> Response {
    let path = uri.path().to_string();
    let (response, nonce, timestamp) = respond(&state, &method, &path, &headers).await;
    lock(&state.log).push(RequestRecord {
        path,
        status: response.status().as_u16(),
        nonce,
        timestamp,
    });
    response
}

async fn respond(
    state: &State,
    method: &Method,
    path: &str,
    headers: &HeaderMap,
) -> (Response, Option<String>, Option<String>) {
    if path.starts_with("/MAAS/api/1.0/") {
        let r = text(
            StatusCode::GONE,
            "text/plain",
            "The 1.0 API is no longer available. Please use API version 2.0.",
        );
        return (r, None, None);
    }
    let Some(rel) = path.strip_prefix(API_PREFIX) else {
        return (
            text(StatusCode::NOT_FOUND, "text/plain", "Not Found"),
            None,
            None,
        );
    };
    if !known_endpoint(rel) {
        let r = text(
            StatusCode::NOT_FOUND,
            "text/plain; charset=utf-8",
            format!("Unknown API endpoint: {path}."),
        );
        return (r, None, None);
    }
    let (auth, nonce, ts) = authenticate(state, headers);
    match auth {
        Auth::Rejected(r) => return (r, nonce, ts),
        Auth::Anonymous => {
            let r = if rel == "version/" {
                route(state, rel, path)
            } else if rel.starts_with("machines/") || rel.starts_with("nodes/") {
                text(
                    StatusCode::BAD_REQUEST,
                    "text/plain; charset=utf-8",
                    format!("Unrecognised signature: method={method} op=None"),
                )
            } else {
                text(StatusCode::UNAUTHORIZED, "text/plain", "Forbidden")
            };
            return (r, None, None);
        }
        Auth::Ok => {}
    }
    if method != Method::GET {
        let r = text(
            StatusCode::BAD_REQUEST,
            "text/plain; charset=utf-8",
            format!("Unrecognised signature: method={method} op=None"),
        );
        return (r, nonce, ts);
    }
    let fault = take_fault(state, rel);
    let r = match fault {
        None => route(state, rel, path),
        Some(FaultKind::Delay(d)) => {
            tokio::time::sleep(d).await;
            route(state, rel, path)
        }
        Some(FaultKind::Unauthorized) => {
            unauthorized("Authorization Error: Invalid API key.".to_string())
        }
        Some(FaultKind::Forbidden) => text(
            StatusCode::FORBIDDEN,
            "text/plain; charset=utf-8",
            "User is not allowed access to this API.",
        ),
        Some(FaultKind::NotFound) => text(
            StatusCode::NOT_FOUND,
            "text/plain; charset=utf-8",
            format!("Unknown API endpoint: {path}."),
        ),
        Some(FaultKind::Conflict { retry_after }) => with_retry_after(
            text(
                StatusCode::CONFLICT,
                "text/html; charset=utf-8",
                "<h1>Conflict</h1>",
            ),
            retry_after,
        ),
        Some(FaultKind::Unavailable { retry_after }) => with_retry_after(
            text(
                StatusCode::SERVICE_UNAVAILABLE,
                "text/plain; charset=utf-8",
                "Unable to connect to rack controller 'happy-rack' (76y7pg); no connections available.",
            ),
            retry_after,
        ),
        Some(FaultKind::GatewayTimeout) => text(
            StatusCode::GATEWAY_TIMEOUT,
            "text/plain; charset=utf-8",
            "Timed out waiting for the rack controller.",
        ),
        Some(FaultKind::ReplaceBody(v)) => {
            json_bytes(Bytes::from(serde_json::to_vec(&v).unwrap_or_default()))
        }
        Some(FaultKind::NotJson) => text(
            StatusCode::OK,
            "text/html; charset=utf-8",
            "<html><body><h1>Welcome to MAAS</h1></body></html>",
        ),
        Some(FaultKind::TruncatedBody) => {
            let full = route(state, rel, path);
            let (parts, body) = full.into_parts();
            let bytes = axum::body::to_bytes(body, usize::MAX)
                .await
                .unwrap_or_default();
            let mut r = Response::from_parts(parts, Body::from(bytes.slice(..bytes.len() / 2)));
            r.headers_mut().remove(header::CONTENT_LENGTH);
            r
        }
        Some(FaultKind::DropMidBody) => {
            let full = route(state, rel, path);
            let (parts, body) = full.into_parts();
            let bytes = axum::body::to_bytes(body, usize::MAX)
                .await
                .unwrap_or_default();
            let half = bytes.slice(..bytes.len() / 2);
            let chunks: Vec<Result<Bytes, std::io::Error>> = vec![
                Ok(half),
                Err(std::io::Error::new(
                    std::io::ErrorKind::ConnectionReset,
                    "fault: connection dropped mid-body",
                )),
            ];
            Response::from_parts(parts, Body::from_stream(futures::stream::iter(chunks)))
        }
    };
    (r, nonce, ts)
}

/// Counts the requests per path (a helper for tests).
pub fn count_by_path(records: &[RequestRecord]) -> HashMap<String, usize> {
    let mut out = HashMap::new();
    for r in records {
        *out.entry(r.path.clone()).or_insert(0) += 1;
    }
    out
}
