//! Accepting agents' connections without letting anyone who can open sockets starve them.
//!
//! * At most [`ConnLimits::max_connections`] connections are open at once, always fewer than
//!   the process may open files, so `accept` never fails for want of descriptors.
//! * When that many are open, a new connection evicts the oldest *idle* one: one that is in
//!   its TLS handshake, still sending its request head, or between requests. A connection
//!   whose request is being served is never evicted; since every route needs the token before
//!   it reads a body, an unauthenticated peer can only hold idle connections.
//! * Idle connections are closed after [`ConnLimits::idle_timeout`] (slowloris: a head sent
//!   a byte at a time is still idle), TLS handshakes after [`ConnLimits::handshake_timeout`].
//! * Request heads are capped at [`MAX_HEAD_BYTES`].

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tower::ServiceExt;

/// Most connections open at once, whatever the open-files limit allows.
pub const MAX_CONNECTIONS: usize = 4_096;
/// Descriptors kept free for everything but connections (state files, TLS, logs).
pub const FD_RESERVE: usize = 64;
/// Longest a connection may stay idle (no request being served), head upload included.
pub const IDLE_TIMEOUT: Duration = Duration::from_secs(10);
/// Longest a TLS handshake may take.
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// Largest request head (request line and headers), in bytes.
pub const MAX_HEAD_BYTES: usize = 16 << 10;

/// How connections are limited.
#[derive(Debug, Clone, Copy)]
pub struct ConnLimits {
    /// Connections open at once.
    pub max_connections: usize,
    /// See [`IDLE_TIMEOUT`].
    pub idle_timeout: Duration,
    /// See [`HANDSHAKE_TIMEOUT`].
    pub handshake_timeout: Duration,
}

impl ConnLimits {
    /// The defaults, with the connection cap below this process's open-files limit (the soft
    /// limit is raised to the hard one first).
    pub fn for_this_process() -> ConnLimits {
        let files = raise_nofile();
        ConnLimits {
            max_connections: files.saturating_sub(FD_RESERVE).clamp(16, MAX_CONNECTIONS),
            idle_timeout: IDLE_TIMEOUT,
            handshake_timeout: HANDSHAKE_TIMEOUT,
        }
    }
}

/// Raises the soft open-files limit to the hard one; returns the limit in force.
fn raise_nofile() -> usize {
    let mut r = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: r is a valid rlimit to fill.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut r) } != 0 {
        return 1024;
    }
    if r.rlim_cur < r.rlim_max {
        let want = libc::rlimit {
            rlim_cur: r.rlim_max.min(1 << 20),
            rlim_max: r.rlim_max,
        };
        // SAFETY: want is a valid rlimit.
        if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &want) } == 0 {
            r.rlim_cur = want.rlim_cur;
        }
    }
    usize::try_from(r.rlim_cur).unwrap_or(usize::MAX)
}

struct Conn {
    busy: AtomicU64,
    last_active: Mutex<Instant>,
    evicted: CancellationToken,
}

impl Conn {
    fn idle_since(&self) -> Option<Instant> {
        if self.busy.load(Ordering::SeqCst) > 0 {
            return None;
        }
        Some(*self.last_active.lock().unwrap_or_else(|e| e.into_inner()))
    }
    fn touch(&self) {
        *self.last_active.lock().unwrap_or_else(|e| e.into_inner()) = Instant::now();
    }
}

#[derive(Default)]
struct Table {
    next: u64,
    open: BTreeMap<u64, Arc<Conn>>,
}

impl Table {
    /// Evicts the connection idle the longest; false when every connection is busy.
    fn evict_one(&mut self) -> bool {
        let victim = self
            .open
            .iter()
            .filter(|(_, c)| !c.evicted.is_cancelled())
            .filter_map(|(id, c)| c.idle_since().map(|t| (t, *id)))
            .min();
        match victim {
            Some((_, id)) => {
                if let Some(c) = self.open.remove(&id) {
                    c.evicted.cancel();
                }
                true
            }
            None => false,
        }
    }
}

/// Serves `router` on `listener` (TLS when `tls` is given) until `shutdown` completes, then
/// closes idle connections and lets requests in progress finish (for up to 5 s).
pub async fn serve(
    listener: TcpListener,
    router: Router,
    tls: Option<Arc<rustls::ServerConfig>>,
    limits: ConnLimits,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let table = Arc::new(Mutex::new(Table::default()));
    let stop = CancellationToken::new();
    let acceptor = tls.map(tokio_rustls::TlsAcceptor::from);
    let mut tasks = tokio::task::JoinSet::new();
    tokio::pin!(shutdown);
    let mut refused = false;
    loop {
        let (stream, _peer) = tokio::select! {
            _ = &mut shutdown => break,
            r = listener.accept() => match r {
                Ok(s) => s,
                Err(e) => {
                    // Out of descriptors after all (something else used them): make room.
                    tracing::warn!("accept failed: {e}");
                    table.lock().unwrap_or_else(|e| e.into_inner()).evict_one();
                    tokio::time::sleep(Duration::from_millis(10)).await;
                    continue;
                }
            },
        };
        while tasks.try_join_next().is_some() {}
        let conn = {
            let mut t = table.lock().unwrap_or_else(|e| e.into_inner());
            if t.open.len() >= limits.max_connections && !t.evict_one() {
                // Every connection is being served: refuse this one rather than queue it.
                if !std::mem::replace(&mut refused, true) {
                    tracing::warn!(
                        "{} connections busy: refusing new ones until one finishes",
                        t.open.len()
                    );
                }
                continue;
            }
            refused = false;
            let c = Arc::new(Conn {
                busy: AtomicU64::new(0),
                last_active: Mutex::new(Instant::now()),
                evicted: stop.child_token(),
            });
            t.next += 1;
            let id = t.next;
            t.open.insert(id, c.clone());
            (id, c)
        };
        let _ = stream.set_nodelay(true);
        let router = router.clone();
        let acceptor = acceptor.clone();
        let table = table.clone();
        tasks.spawn(async move {
            let (id, c) = conn;
            match acceptor {
                None => serve_one(stream, router, &c, limits).await,
                Some(a) => {
                    let hs = tokio::select! {
                        r = tokio::time::timeout(limits.handshake_timeout, a.accept(stream)) => r,
                        _ = c.evicted.cancelled() => Ok(Err(std::io::Error::other("evicted"))),
                    };
                    if let Ok(Ok(s)) = hs {
                        serve_one(s, router, &c, limits).await;
                    }
                }
            }
            table
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .open
                .remove(&id);
        });
    }
    drop(listener);
    stop.cancel();
    let _ = tokio::time::timeout(Duration::from_secs(5), async {
        while tasks.join_next().await.is_some() {}
    })
    .await;
    tasks.abort_all();
    Ok(())
}

/// Serves one connection until it closes, idles out or is evicted.
async fn serve_one<S>(stream: S, router: Router, c: &Arc<Conn>, limits: ConnLimits)
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let cc = c.clone();
    let svc = hyper::service::service_fn(move |req: hyper::Request<hyper::body::Incoming>| {
        let router = router.clone();
        let c = cc.clone();
        c.busy.fetch_add(1, Ordering::SeqCst);
        async move {
            let r: Result<_, Infallible> = router.oneshot(req.map(axum::body::Body::new)).await;
            c.touch();
            c.busy.fetch_sub(1, Ordering::SeqCst);
            r
        }
    });
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(limits.idle_timeout)
        .max_buf_size(MAX_HEAD_BYTES.max(8192))
        .keep_alive(true);
    let conn = builder.serve_connection(TokioIo::new(stream), svc);
    tokio::pin!(conn);
    let idle_check = async {
        loop {
            tokio::time::sleep(limits.idle_timeout / 4).await;
            if c.idle_since()
                .is_some_and(|t| t.elapsed() >= limits.idle_timeout)
            {
                return;
            }
        }
    };
    tokio::select! {
        _ = conn.as_mut() => return,
        _ = idle_check => {}
        _ = c.evicted.cancelled() => {}
    }
    if c.idle_since().is_some() {
        return;
    }
    // A request is being served: let it finish, then close.
    conn.as_mut().graceful_shutdown();
    let _ = tokio::time::timeout(Duration::from_secs(5), conn).await;
}
