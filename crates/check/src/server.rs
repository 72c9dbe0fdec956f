//! The coordinator's HTTP API (axum), as `preflight_model::api` describes it:
//! `POST /v1/register`, `GET /v1/agents/{id}/plan`, `POST /v1/agents/{id}/results`.
//!
//! Every route needs `Authorization: Bearer TOKEN` (compared in constant time). Bodies are
//! size-limited (413), malformed JSON is a 400 whose JSON body names the field, requests that
//! take longer than the request timeout (slow clients) get 408, and every error body is an
//! [`ErrorBody`].

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
use preflight_model::api::{ErrorBody, RegisterRequest, RegisterResponse, ResultsAck};
use preflight_model::observed::OBSERVED_SCHEMA;
use preflight_model::probe::{ProbeReport, PROBE_SCHEMA};
use subtle::ConstantTimeEq;

use crate::state::{Accepted, CheckState, Refusal};

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
    /// Result uploads read and stored at once; more wait their turn (their bodies stay in
    /// the socket), which bounds the memory a burst of large uploads takes.
    pub concurrent_uploads: usize,
}

impl ServerConfig {
    /// Defaults: 4 MiB registrations, 32 MiB results, 30 s per request, retry after 500 ms,
    /// 8 uploads at once.
    pub fn new(token: String) -> ServerConfig {
        ServerConfig {
            token,
            register_limit: 4 << 20,
            results_limit: 32 << 20,
            request_timeout: Duration::from_secs(30),
            retry_after_ms: 500,
            concurrent_uploads: 8,
        }
    }
}

#[derive(Clone)]
struct App {
    state: Arc<CheckState>,
    config: Arc<ServerConfig>,
    uploads: Arc<tokio::sync::Semaphore>,
}

/// Lets [`ServerConfig::concurrent_uploads`] uploads through at once; the others wait here,
/// before their bodies are read.
async fn one_upload_of_n(State(app): State<App>, req: Request, next: Next) -> Response {
    let Ok(_permit) = app.uploads.acquire().await else {
        return ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "shutting down", None)
            .into_response();
    };
    next.run(req).await
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

async fn register(
    State(app): State<App>,
    b: Result<Bytes, BytesRejection>,
) -> Result<Json<RegisterResponse>, ApiError> {
    let req: RegisterRequest = parse(&body(b)?)?;
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
    let agent_id = tokio::task::spawn_blocking(move || state.register(req.observed))
        .await
        .map_err(|e| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, e.to_string(), None))??;
    Ok(Json(RegisterResponse { agent_id }))
}

async fn plan(State(app): State<App>, Path(id): Path<String>) -> Result<Response, ApiError> {
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
    b: Result<Bytes, BytesRejection>,
) -> Result<Json<ResultsAck>, ApiError> {
    let bytes = body(b)?;
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

/// The router of the coordinator's API.
pub fn router(state: Arc<CheckState>, config: ServerConfig) -> Router {
    let app = App {
        state,
        uploads: Arc::new(tokio::sync::Semaphore::new(
            config.concurrent_uploads.max(1),
        )),
        config: Arc::new(config),
    };
    let c = app.config.clone();
    Router::new()
        .route(
            "/v1/register",
            post(register).layer(DefaultBodyLimit::max(c.register_limit)),
        )
        .route("/v1/agents/{id}/plan", get(plan))
        .route(
            "/v1/agents/{id}/results",
            post(results)
                .layer(DefaultBodyLimit::max(c.results_limit))
                .layer(middleware::from_fn_with_state(app.clone(), one_upload_of_n)),
        )
        .fallback(not_found)
        .layer(middleware::from_fn_with_state(app.clone(), auth))
        .layer(tower_http::timeout::TimeoutLayer::with_status_code(
            StatusCode::REQUEST_TIMEOUT,
            c.request_timeout,
        ))
        .with_state(app)
}

/// Serves the API on a bound listener until `shutdown` completes.
pub async fn serve(
    listener: tokio::net::TcpListener,
    state: Arc<CheckState>,
    config: ServerConfig,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, router(state, config))
        .with_graceful_shutdown(shutdown)
        .await
}
