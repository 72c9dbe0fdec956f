//! The coordinator's HTTP API (axum), as `preflight_model::api` describes it:
//! `POST /v1/register`, `GET /v1/agents/{id}/plan`, `POST /v1/agents/{id}/results`.
//!
//! Every route needs `Authorization: Bearer TOKEN` (compared in constant time). Bodies are
//! size-limited (413), malformed JSON is a 400 whose JSON body names the field, requests that
//! take longer than the request timeout (slow clients) get 408, and every error body is an
//! [`ErrorBody`].
//!
//! Registration returns a per-agent key; plan and results requests must carry it in
//! [`AGENT_KEY_HEADER`], so a token holder cannot act for an agent that has registered.
//! Result and registration bodies share one in-flight budget ([`UPLOAD_BUDGET`]), so many
//! concurrent uploads cannot add up past it. Connections are capped and idle ones closed
//! ([`crate::conn`]); with [`ServerConfig::tls`] the API is served over TLS ([`crate::tls`]).

use std::sync::Arc;
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{DefaultBodyLimit, Path, Request, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use preflight_model::api::{
    ErrorBody, RegisterRequest, RegisterResponse, ResultsAck, AGENT_KEY_HEADER,
};
use preflight_model::observed::OBSERVED_SCHEMA;
use preflight_model::probe::{ProbeReport, PROBE_SCHEMA};
use subtle::ConstantTimeEq;

use crate::conn::ConnLimits;
use crate::state::{Accepted, CheckState, Refusal};

/// Largest registration body (an observed config is tens of KiB; identity strings are capped
/// further by `preflight_model::limits::check_observed`).
pub const REGISTER_BODY_MAX: usize = 1 << 20;
/// Largest results body.
pub const RESULTS_BODY_MAX: usize = 32 << 20;
/// Bytes of request bodies being received at once, all uploads together.
pub const UPLOAD_BUDGET: usize = 128 << 20;
/// Longest a request may take, body upload included.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// Settings of the HTTP server.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// The bearer token agents must present.
    pub token: String,
    /// Largest registration body, in bytes.
    pub register_limit: usize,
    /// Largest results body, in bytes.
    pub results_limit: usize,
    /// Longest a request may take, body upload included.
    pub request_timeout: Duration,
    /// What `Waiting` answers suggest as the wait before asking again.
    pub retry_after_ms: u64,
    /// Bytes of bodies received at once, all uploads together.
    pub upload_budget: usize,
    /// Connection caps and timeouts.
    pub conn: ConnLimits,
    /// Serve over TLS with this configuration (see [`crate::tls::TlsIdentity::server_config`]).
    pub tls: Option<Arc<rustls::ServerConfig>>,
    /// How long a plan request is held open waiting for the plan before `Waiting` is answered
    /// (a long poll: agents get their plan the moment it exists, not on their next poll).
    pub plan_hold: Duration,
}

impl ServerConfig {
    /// Defaults: [`REGISTER_BODY_MAX`], [`RESULTS_BODY_MAX`], [`UPLOAD_BUDGET`],
    /// [`REQUEST_TIMEOUT`], retry after 500 ms, connections as [`ConnLimits::for_this_process`],
    /// plain HTTP, plan requests held up to 10 s.
    pub fn new(token: String) -> ServerConfig {
        ServerConfig {
            token,
            register_limit: REGISTER_BODY_MAX,
            results_limit: RESULTS_BODY_MAX,
            request_timeout: REQUEST_TIMEOUT,
            retry_after_ms: 500,
            upload_budget: UPLOAD_BUDGET,
            conn: ConnLimits::for_this_process(),
            tls: None,
            plan_hold: Duration::from_secs(10),
        }
    }
}

#[derive(Clone)]
struct App {
    state: Arc<CheckState>,
    config: Arc<ServerConfig>,
    uploads: Arc<tokio::sync::Semaphore>,
}

/// An error answer: status plus [`ErrorBody`].
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    body: ErrorBody,
}

impl ApiError {
    fn new(status: StatusCode, error: impl Into<String>, field: Option<String>) -> ApiError {
        ApiError {
            status,
            body: ErrorBody {
                error: error.into(),
                field,
            },
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut r = (self.status, Json(self.body)).into_response();
        if self.status == StatusCode::UNAUTHORIZED {
            r.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                header::HeaderValue::from_static("Bearer"),
            );
        }
        r
    }
}

impl From<Refusal> for ApiError {
    fn from(r: Refusal) -> ApiError {
        match r {
            Refusal::UnknownAgent => ApiError::new(
                StatusCode::NOT_FOUND,
                "unknown agent: register first",
                Some("id".into()),
            ),
            Refusal::Forbidden(m, f) => ApiError::new(StatusCode::FORBIDDEN, m, f),
            Refusal::Conflict(m) => ApiError::new(StatusCode::CONFLICT, m, None),
            Refusal::Invalid(m, f) => ApiError::new(StatusCode::BAD_REQUEST, m, f),
            Refusal::Storage(m) => {
                tracing::error!("state dir write failed: {m}");
                ApiError::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "the coordinator could not store this",
                    None,
                )
            }
        }
    }
}

fn body(b: Result<Bytes, BytesRejection>) -> Result<Bytes, ApiError> {
    b.map_err(|e| {
        let status = e.status();
        let msg = if status == StatusCode::PAYLOAD_TOO_LARGE {
            "request body too large".to_string()
        } else {
            e.body_text()
        };
        ApiError::new(status, msg, None)
    })
}

/// Parses JSON, naming the offending field path in the error.
fn parse<T: serde::de::DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    let de = &mut serde_json::Deserializer::from_slice(bytes);
    serde_path_to_error::deserialize(de).map_err(|e| {
        let path = e.path().to_string();
        let field = if path == "." || path.is_empty() {
            None
        } else {
            Some(path)
        };
        ApiError::new(
            StatusCode::BAD_REQUEST,
            format!("invalid JSON: {}", e.inner()),
            field,
        )
    })
}

async fn auth(State(app): State<App>, headers: HeaderMap, req: Request, next: Next) -> Response {
    let given = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            v.strip_prefix("Bearer ")
                .or_else(|| v.strip_prefix("bearer "))
        })
        .map(str::trim);
    let ok = given.is_some_and(|g| bool::from(g.as_bytes().ct_eq(app.config.token.as_bytes())));
    if !ok {
        return ApiError::new(
            StatusCode::UNAUTHORIZED,
            "missing or wrong bearer token",
            Some("Authorization".into()),
        )
        .into_response();
    }
    next.run(req).await
}

/// Holds a share of the upload budget while a body is received: its declared length (or the
/// route's limit when it declares none), so concurrent uploads never buffer more than
/// [`ServerConfig::upload_budget`] together. Waiting for a share counts against the request
/// timeout (408).
async fn budget(
    State((app, limit)): State<(App, usize)>,
    headers: HeaderMap,
    req: Request,
    next: Next,
) -> Response {
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    if declared.is_some_and(|n| n > limit) {
        return ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "request body too large",
            None,
        )
        .into_response();
    }
    let want = declared
        .unwrap_or(limit)
        .clamp(1, limit.min(app.config.upload_budget).max(1));
    let want = u32::try_from(want).unwrap_or(u32::MAX);
    let Ok(_permit) = app.uploads.clone().acquire_many_owned(want).await else {
        return ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "shutting down", None)
            .into_response();
    };
    next.run(req).await
}

/// The agent key a request presents, when any.
fn agent_key(headers: &HeaderMap) -> Option<&str> {
    headers
        .get(AGENT_KEY_HEADER)
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
}

async fn register(
    State(app): State<App>,
    b: Result<Bytes, BytesRejection>,
) -> Result<Json<RegisterResponse>, ApiError> {
    let req: RegisterRequest = parse(&body(b)?)?;
    if let Err(e) = preflight_model::limits::check_observed(&req.observed) {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            e.message,
            Some(format!("observed.{}", e.field)),
        ));
    }
    if let Some(k) = &req.agent_key {
        if !preflight_model::api::valid_agent_key(k) {
            return Err(ApiError::new(
                StatusCode::BAD_REQUEST,
                "an agent key is 32 to 128 characters of A-Z, a-z, 0-9, - and _",
                Some("agent_key".into()),
            ));
        }
    }
    if req.observed.schema != OBSERVED_SCHEMA {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            format!(
                "unsupported schema {:?}: expected {OBSERVED_SCHEMA:?}",
                req.observed.schema
            ),
            Some("observed.schema".into()),
        ));
    }
    if req.observed.identity.hostname.trim().is_empty()
        && req
            .observed
            .identity
            .system_id
            .as_deref()
            .unwrap_or("")
            .is_empty()
    {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "an agent needs a hostname or a system_id",
            Some("observed.identity.hostname".into()),
        ));
    }
    let state = app.state.clone();
    let (agent_id, agent_key) =
        tokio::task::spawn_blocking(move || state.register(req.observed, req.agent_key))
            .await
            .map_err(|e| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, e.to_string(), None))??;
    Ok(Json(RegisterResponse {
        agent_id,
        agent_key,
    }))
}

async fn plan(
    State(app): State<App>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    app.state.check_key(&id, agent_key(&headers))?;
    // Held open until the phase moves on (the plan is ready) or the hold runs out; subscribed
    // before the first look, so a plan made in between is not missed.
    let mut phase = app.state.subscribe_phase();
    let until = tokio::time::Instant::now() + app.config.plan_hold;
    loop {
        let (now, plan) = app.state.plan_for(&id)?;
        if now == crate::state::Phase::Done || plan.is_some() {
            break;
        }
        match tokio::time::timeout_at(until, phase.changed()).await {
            Ok(Ok(())) => continue,
            _ => break,
        }
    }
    let body = app.state.plan_answer(&id, app.config.retry_after_ms)?;
    Ok((
        [(
            header::CONTENT_TYPE,
            header::HeaderValue::from_static("application/json"),
        )],
        body,
    )
        .into_response())
}

async fn results(
    State(app): State<App>,
    Path(id): Path<String>,
    headers: HeaderMap,
    raw: axum::body::Body,
) -> Result<Json<ResultsAck>, ApiError> {
    // The key first: a token holder without it gets nothing buffered.
    app.state.check_key(&id, agent_key(&headers))?;
    let bytes = axum::body::to_bytes(raw, app.config.results_limit)
        .await
        .map_err(|e| {
            let mut too_large = false;
            let mut src: Option<&(dyn std::error::Error + 'static)> = Some(&e);
            while let Some(s) = src {
                too_large |= s.to_string().contains("length limit");
                src = s.source();
            }
            if too_large {
                ApiError::new(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    "request body too large",
                    None,
                )
            } else {
                ApiError::new(
                    StatusCode::BAD_REQUEST,
                    format!("cannot read the body: {e}"),
                    None,
                )
            }
        })?;
    let report: ProbeReport = parse(&bytes)?;
    if report.schema != PROBE_SCHEMA {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            format!(
                "unsupported schema {:?}: expected {PROBE_SCHEMA:?}",
                report.schema
            ),
            Some("schema".into()),
        ));
    }
    let state = app.state.clone();
    let acc = tokio::task::spawn_blocking(move || state.submit(&id, report))
        .await
        .map_err(|e| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, e.to_string(), None))??;
    Ok(Json(match acc {
        Accepted::New(n) => ResultsAck {
            accepted: n,
            duplicate: false,
        },
        Accepted::Duplicate(n) => ResultsAck {
            accepted: n,
            duplicate: true,
        },
    }))
}

async fn not_found() -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        "no such route (this coordinator speaks /v1)",
        None,
    )
}

async fn wrong_method() -> ApiError {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "method not allowed: POST /v1/register, GET /v1/agents/{id}/plan, POST /v1/agents/{id}/results",
        None,
    )
}

/// The router of the coordinator's API.
pub fn router(state: Arc<CheckState>, config: ServerConfig) -> Router {
    let budget_permits = config.upload_budget.clamp(1, u32::MAX as usize);
    let app = App {
        state,
        config: Arc::new(config),
        uploads: Arc::new(tokio::sync::Semaphore::new(budget_permits)),
    };
    let c = app.config.clone();
    let reg_budget = middleware::from_fn_with_state((app.clone(), c.register_limit), budget);
    let res_budget = middleware::from_fn_with_state((app.clone(), c.results_limit), budget);
    Router::new()
        .route(
            "/v1/register",
            post(register)
                .layer(DefaultBodyLimit::max(c.register_limit))
                .layer(reg_budget)
                .fallback(wrong_method),
        )
        .route("/v1/agents/{id}/plan", get(plan).fallback(wrong_method))
        .route(
            "/v1/agents/{id}/results",
            post(results)
                .layer(DefaultBodyLimit::max(c.results_limit))
                .layer(res_budget)
                .fallback(wrong_method),
        )
        .fallback(not_found)
        .layer(middleware::from_fn_with_state(app.clone(), auth))
        .layer(tower_http::timeout::TimeoutLayer::with_status_code(
            StatusCode::REQUEST_TIMEOUT,
            c.request_timeout,
        ))
        .with_state(app)
}

/// Serves the API on a bound listener until `shutdown` completes (over TLS when
/// [`ServerConfig::tls`] is set), with the connection caps of [`ServerConfig::conn`].
pub async fn serve(
    listener: tokio::net::TcpListener,
    state: Arc<CheckState>,
    config: ServerConfig,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let tls = config.tls.clone();
    let limits = config.conn;
    crate::conn::serve(listener, router(state, config), tls, limits, shutdown).await
}
