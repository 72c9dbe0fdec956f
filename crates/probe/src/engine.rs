//! The ICMP engine: every job in flight at once over a few sockets, under a window and a
//! global rate cap, with replies matched through our own per-socket sequence space.
//!
//! One thread drives everything: `ppoll` on the sockets, drain replies with `recvmmsg`,
//! drain the error queue when the socket reports `POLLERR`, expire timeouts, send the next
//! batch with `sendmmsg`. Loopback replies are queued during our own `sendmmsg` call, so
//! draining between batches keeps the receive buffer far from full.

use std::collections::VecDeque;
use std::io;
use std::net::IpAddr;
use std::os::fd::AsRawFd;
use std::time::{Duration, Instant};

use preflight_model::probe::{FailureCause, SocketKind};

use crate::icmp::{self, Token};
use crate::sock::{self, IcmpSocket, QueuedError, RecvBatch, SendBatch, BATCH};
use crate::stats::RttAcc;

/// Largest number of requests in flight; the per-socket sequence space is 16 bits.
pub const MAX_WINDOW: usize = 60_000;

/// One stream of echo requests: a target, a socket and a packet size.
#[derive(Debug, Clone)]
pub struct Job {
    /// Destination.
    pub dest: IpAddr,
    /// Index of the socket in the slice given to [`run`].
    pub sock: u16,
    /// ICMP payload bytes (at least [`icmp::TOKEN_LEN`]).
    pub payload: u16,
    /// Extra attempts when none of `count` was answered.
    pub retries: u16,
    /// Requests to send.
    pub count: u32,
}

/// Timing and pacing of a run.
#[derive(Debug, Clone, Copy)]
pub struct Params {
    /// Between requests of one job.
    pub interval: Duration,
    /// Wait for each reply.
    pub timeout: Duration,
    /// Global packets-per-second cap.
    pub rate: Option<u32>,
    /// Requests in flight at most.
    pub window: usize,
    /// Stop here, whatever is left to send or wait for (what is unanswered counts as lost).
    pub deadline: Option<Instant>,
}

/// A failure as the kernel reported it, kept small (one per job) and turned into a
/// [`FailureCause`] for the report.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cause {
    /// Network unreachable.
    Net,
    /// Host unreachable.
    Host,
    /// Administratively prohibited.
    Admin,
    /// Fragmentation needed / packet too big / EMSGSIZE, with the MTU when reported.
    Frag(Option<u32>),
    /// A local error, as errno.
    Errno(i32),
    /// Another ICMP error.
    Icmp {
        /// ICMPv6 (true) or ICMP.
        v6: bool,
        /// Type.
        ty: u8,
        /// Code.
        code: u8,
    },
}

impl Cause {
    /// The report's form.
    pub fn to_failure(self) -> FailureCause {
        match self {
            Cause::Net => FailureCause::NetworkUnreachable,
            Cause::Host => FailureCause::HostUnreachable,
            Cause::Admin => FailureCause::AdminProhibited,
            Cause::Frag(mtu) => FailureCause::FragmentationNeeded { mtu },
            Cause::Errno(e) => FailureCause::LocalError {
                message: io::Error::from_raw_os_error(e).to_string(),
            },
            Cause::Icmp { v6, ty, code } => {
                let what = match (v6, ty) {
                    (false, 3) => "ICMP destination unreachable",
                    (false, 11) => "ICMP time exceeded",
                    (false, _) => "ICMP error",
                    (true, 1) => "ICMPv6 destination unreachable",
                    (true, 3) => "ICMPv6 time exceeded",
                    (true, _) => "ICMPv6 error",
                };
                FailureCause::Other {
                    message: format!("{what} (type {ty}, code {code})"),
                }
            }
        }
    }
}

/// What one job saw.
#[derive(Debug, Clone, Default)]
pub struct JobStats {
    /// Requests sent (including those the kernel refused).
    pub sent: u32,
    /// Distinct replies.
    pub received: u32,
    /// Duplicate replies.
    pub duplicates: u32,
    /// RTTs.
    pub rtt: RttAcc,
    /// Last error the kernel or network gave, when any.
    pub error: Option<Cause>,
}

impl JobStats {
    /// The failure to report: the error seen, else a timeout when something went unanswered.
    pub fn failure(&self) -> Option<FailureCause> {
        if self.received >= self.sent && self.sent > 0 {
            None
        } else {
            Some(self.error.map_or(FailureCause::Timeout, Cause::to_failure))
        }
    }
}

#[derive(Clone, Copy, Default)]
struct Slot {
    live: bool,
    job: u32,
    attempt: u32,
    token: u32,
    sent_ns: i64,
}

struct SockState {
    /// One slot per sequence number this run can use on the socket: as many as the
    /// requests its jobs can send, at most 2^16 (an agent's few hundred targets need a few
    /// thousand, not 65,536 × 24 bytes per socket and run).
    slots: Vec<Slot>,
    next_seq: u16,
}

impl SockState {
    /// Slots for `requests` requests on one socket.
    fn for_requests(requests: usize) -> SockState {
        SockState {
            slots: vec![Slot::default(); requests.clamp(1, 1 << 16)],
            next_seq: 0,
        }
    }

    /// Room for `requests` more requests (jobs added during the run).
    fn grow(&mut self, requests: usize) {
        let len = self.slots.len().saturating_add(requests).min(1 << 16);
        self.slots.resize(len, Slot::default());
    }

    /// The sequence number after `seq`, wrapping at the slots' end.
    fn after(&self, seq: u16) -> u16 {
        if usize::from(seq) + 1 >= self.slots.len() {
            0
        } else {
            seq + 1
        }
    }
}

#[derive(Clone, Copy, Default)]
struct JobState {
    next_attempt: u32,
    limit: u32,
    outstanding: u32,
    retries_left: u16,
    /// Attempts (the first 32) answered, to tell duplicates from late replies.
    answered: u32,
    /// Whether a retry check of this job is queued and still counted in `live_retries`.
    retry_queued: bool,
}

struct Engine<'a> {
    socks: &'a [IcmpSocket],
    jobs: &'a [Job],
    /// Jobs `expand` added during the run, numbered after `jobs`.
    extra: Vec<Job>,
    /// Asked about every job nothing has answered at its retry check (see [`run_expanding`]).
    expand: Option<Expand<'a>>,
    p: Params,
    nonce: u32,
    state: Vec<JobState>,
    stats: Vec<JobStats>,
    ss: Vec<SockState>,
    t0: Instant,
    // Times are nanoseconds since t0, to keep the queues at 16 bytes an entry.
    //
    // Requests are due in three queues, sent in this order when several are due at once (a
    // loaded machine sends behind schedule): retries, then requests of jobs nothing has
    // answered yet (`suspect_q`, which every job starts in), then requests of answered jobs
    // (`ready_q`: those found answered in `suspect_q` when due, already due; `send_q`). On
    // time it changes nothing; behind schedule a silent target's requests still go out on
    // time, so its one timeout starts on time instead of behind the healthy targets' traffic.
    send_q: VecDeque<(u64, u32)>,
    suspect_q: VecDeque<(u64, u32)>,
    ready_q: VecDeque<u32>,
    retry_q: VecDeque<(u64, u32)>,
    /// Queued retry checks of jobs still unanswered (`retry_q` may also hold stale ones of
    /// jobs answered since, which are dropped when due and never keep the run going).
    live_retries: usize,
    /// Retry checks of the batch just sent, queued once its replies are drained: on a fast
    /// path (loopback) the answer is already in, and 65,536 targets queue none.
    retry_pending: Vec<(u64, u32)>,
    timeouts: VecDeque<(u64, u16, u16, u32)>,
    inflight: usize,
    token_gen: u32,
    tokens: f64,
    last_refill: Instant,
}

/// Classifies an errno from `sendto`.
pub fn cause_of_errno(e: &io::Error) -> Cause {
    match e.raw_os_error() {
        Some(libc::ENETUNREACH) => Cause::Net,
        Some(libc::EHOSTUNREACH) => Cause::Host,
        Some(libc::EMSGSIZE) => Cause::Frag(None),
        Some(n) => Cause::Errno(n),
        None => Cause::Errno(libc::EIO),
    }
}

/// Classifies an ICMP error from the error queue.
pub fn cause_of_queued(q: &QueuedError) -> Cause {
    let mtu = (q.info > 0).then_some(q.info);
    let (ty, code) = (q.icmp_type, q.icmp_code);
    match q.origin {
        libc::SO_EE_ORIGIN_ICMP => match (ty, code) {
            (3, 0) | (3, 6) | (3, 11) => Cause::Net,
            (3, 1) | (3, 7) | (3, 12) => Cause::Host,
            (3, 4) => Cause::Frag(mtu),
            (3, 9) | (3, 10) | (3, 13) => Cause::Admin,
            _ => Cause::Icmp {
                v6: false,
                ty,
                code,
            },
        },
        libc::SO_EE_ORIGIN_ICMP6 => match (ty, code) {
            (1, 0) => Cause::Net,
            (1, 1) | (1, 5) | (1, 6) => Cause::Admin,
            (1, 3) => Cause::Host,
            (2, _) => Cause::Frag(mtu),
            _ => Cause::Icmp { v6: true, ty, code },
        },
        _ => cause_of_errno(&io::Error::from_raw_os_error(q.errno as i32)),
    }
}

/// What a run may add while it runs: called with a job nothing has answered at its retry
/// check (one interval after its last request; only jobs with retries have one) and every
/// job's statistics so far; the jobs it returns join the run at once, numbered after the
/// ones given and those added before.
pub type Expand<'a> = &'a mut dyn FnMut(usize, &[JobStats]) -> Vec<Job>;

/// Runs every job to completion and returns one [`JobStats`] per job.
pub fn run(socks: &[IcmpSocket], jobs: &[Job], p: Params, nonce: u32) -> Vec<JobStats> {
    run_inner(socks, jobs, p, nonce, None)
}

/// [`run`], letting `expand` add jobs to silent ones (the MTU search of a full-size probe
/// that got no answer while its small one did, so the search shares that wait); returns
/// the statistics of the given jobs, then of the added ones in the order they were added.
pub fn run_expanding(
    socks: &[IcmpSocket],
    jobs: &[Job],
    p: Params,
    nonce: u32,
    expand: Expand<'_>,
) -> Vec<JobStats> {
    run_inner(socks, jobs, p, nonce, Some(expand))
}

fn run_inner<'a>(
    socks: &'a [IcmpSocket],
    jobs: &'a [Job],
    p: Params,
    nonce: u32,
    expand: Option<Expand<'a>>,
) -> Vec<JobStats> {
    let now = Instant::now();
    let mut e = Engine {
        socks,
        jobs,
        extra: Vec::new(),
        expand,
        p: Params {
            window: p.window.clamp(1, MAX_WINDOW),
            ..p
        },
        nonce,
        state: jobs
            .iter()
            .map(|j| JobState {
                limit: j.count,
                retries_left: j.retries,
                ..JobState::default()
            })
            .collect(),
        stats: vec![JobStats::default(); jobs.len()],
        ss: {
            let mut requests = vec![0usize; socks.len()];
            for j in jobs {
                if let Some(r) = requests.get_mut(usize::from(j.sock)) {
                    *r = r.saturating_add(j.count as usize + usize::from(j.retries));
                }
            }
            requests.into_iter().map(SockState::for_requests).collect()
        },
        send_q: VecDeque::new(),
        ready_q: VecDeque::new(),
        suspect_q: (0..jobs.len() as u32)
            .filter(|&j| jobs[j as usize].count > 0)
            .map(|j| (0, j))
            .collect(),
        retry_q: VecDeque::new(),
        live_retries: 0,
        retry_pending: Vec::with_capacity(BATCH),
        t0: now,
        timeouts: VecDeque::new(),
        inflight: 0,
        token_gen: 0,
        tokens: burst(p.rate),
        last_refill: now,
    };
    e.run_loop();
    e.stats
}

fn burst(rate: Option<u32>) -> f64 {
    match rate {
        Some(r) => f64::from((r / 100).max(1)),
        None => f64::INFINITY,
    }
}

impl Engine<'_> {
    fn ns(&self, t: Instant) -> u64 {
        t.saturating_duration_since(self.t0).as_nanos() as u64
    }

    fn at(&self, ns: u64) -> Instant {
        self.t0 + Duration::from_nanos(ns)
    }

    fn run_loop(&mut self) {
        let mut rb = RecvBatch::default();
        let mut sb = SendBatch::default();
        let mut pfds: Vec<libc::pollfd> = self
            .socks
            .iter()
            .map(|s| libc::pollfd {
                fd: s.sock.as_raw_fd(),
                events: libc::POLLIN,
                revents: 0,
            })
            .collect();
        let mut blocked = false;
        loop {
            let now = Instant::now();
            if self.p.deadline.is_some_and(|d| now >= d) {
                break;
            }
            self.refill(now);
            let wait = if blocked {
                Some(Duration::from_millis(1))
            } else {
                self.next_wait(now)
            };
            let wait = match (wait, self.p.deadline) {
                (Some(w), Some(d)) => Some(w.min(d.saturating_duration_since(now))),
                (None, Some(d)) => Some(d.saturating_duration_since(now)),
                (w, None) => w,
            };
            let done = self.send_q.is_empty()
                && self.suspect_q.is_empty()
                && self.ready_q.is_empty()
                && self.live_retries == 0
                && self.inflight == 0;
            if done {
                break;
            }
            let ts = wait.map(|w| libc::timespec {
                tv_sec: w.as_secs() as libc::time_t,
                tv_nsec: libc::c_long::from(w.subsec_nanos() as i32),
            });
            // SAFETY: pfds is a live array of pollfd; ts (when given) outlives the call.
            let n = unsafe {
                libc::ppoll(
                    pfds.as_mut_ptr(),
                    pfds.len() as libc::nfds_t,
                    ts.as_ref()
                        .map_or(std::ptr::null(), |t| t as *const libc::timespec),
                    std::ptr::null(),
                )
            };
            if n > 0 {
                let revents: Vec<i16> = pfds.iter().map(|p| p.revents).collect();
                for (i, rev) in revents.into_iter().enumerate() {
                    if rev & libc::POLLERR != 0 {
                        self.drain_errors(i);
                    }
                    if rev & libc::POLLIN != 0 {
                        self.drain_replies(i, &mut rb);
                    }
                }
            }
            let now = Instant::now();
            self.expire(now);
            self.refill(now);
            blocked = false;
            // Several batches per wake-up, draining replies between them.
            for _ in 0..4 {
                match self.send_one_batch(now, &mut sb) {
                    Batch::Nothing => break,
                    Batch::Sent(s) => {
                        self.drain_replies(s, &mut rb);
                        self.flush_retry_checks();
                    }
                    Batch::Blocked(s) => {
                        self.drain_replies(s, &mut rb);
                        self.flush_retry_checks();
                        blocked = true;
                        break;
                    }
                }
            }
        }
    }

    fn refill(&mut self, now: Instant) {
        if let Some(r) = self.p.rate {
            let dt = now
                .saturating_duration_since(self.last_refill)
                .as_secs_f64();
            self.tokens = (self.tokens + dt * f64::from(r)).min(burst(self.p.rate));
        }
        self.last_refill = now;
    }

    /// How long to sleep: zero when something can be sent now, else until the next due
    /// send, token or timeout; `None` (forever) never happens while work remains.
    fn next_wait(&self, now: Instant) -> Option<Duration> {
        let mut next: Option<Instant> = self.timeouts.front().map(|t| self.at(t.0));
        let can_send = self.inflight < self.p.window;
        if can_send {
            let due = if self.ready_q.is_empty() {
                [&self.send_q, &self.suspect_q, &self.retry_q]
                    .into_iter()
                    .filter_map(|q| q.front().map(|x| x.0))
                    .min()
                    .map(|t| self.at(t))
            } else {
                Some(now)
            };
            if let Some(mut d) = due {
                if self.tokens < 1.0 {
                    if let Some(r) = self.p.rate {
                        let need = (1.0 - self.tokens) / f64::from(r.max(1));
                        d = d.max(now + Duration::from_secs_f64(need));
                    }
                }
                next = Some(next.map_or(d, |n| n.min(d)));
            }
        }
        Some(next.map_or(Duration::from_millis(10), |n| {
            n.saturating_duration_since(now)
        }))
    }

    fn expire(&mut self, now: Instant) {
        let now = self.ns(now);
        while let Some(&(dl, s, seq, tok)) = self.timeouts.front() {
            if dl > now {
                break;
            }
            self.timeouts.pop_front();
            let slot = self.ss[s as usize].slots[seq as usize];
            if slot.live && slot.token == tok {
                self.ss[s as usize].slots[seq as usize].live = false;
                self.resolve(slot.job, None);
            }
        }
    }

    /// One request of `job` is settled (answered, failed or timed out).
    fn resolve(&mut self, job: u32, error: Option<Cause>) {
        self.inflight -= 1;
        let j = job as usize;
        if let Some(e) = error {
            self.stats[j].error = Some(e);
        }
        self.state[j].outstanding -= 1;
    }

    /// Job `j`, given or added.
    fn job(&self, j: u32) -> &Job {
        let j = j as usize;
        match self.jobs.get(j) {
            Some(job) => job,
            None => &self.extra[j - self.jobs.len()],
        }
    }

    /// Asks `expand` about silent job `job` and adds what it returns, due now.
    fn expand_silent(&mut self, job: u32) {
        let Some(expand) = self.expand.as_mut() else {
            return;
        };
        let added = expand(job as usize, &self.stats);
        let mut due = Vec::with_capacity(added.len());
        for j in added {
            let id = self.jobs.len() + self.extra.len();
            let (Ok(id), Some(ss)) = (u32::try_from(id), self.ss.get_mut(usize::from(j.sock)))
            else {
                continue;
            };
            ss.grow(j.count as usize + usize::from(j.retries));
            self.state.push(JobState {
                limit: j.count,
                retries_left: j.retries,
                ..JobState::default()
            });
            self.stats.push(JobStats::default());
            if j.count > 0 {
                due.push(id);
            }
            self.extra.push(j);
        }
        // Due now: ahead of the suspects queued for later, in the order given.
        let now = self.ns(Instant::now());
        for id in due.into_iter().rev() {
            self.suspect_q.push_front((now, id));
        }
    }

    /// Queues the retry checks of the last batch whose jobs are still unanswered.
    fn flush_retry_checks(&mut self) {
        let mut pending = std::mem::take(&mut self.retry_pending);
        for &(due, job) in &pending {
            if self.state[job as usize].retry_queued {
                self.retry_q.push_back((due, job));
            }
        }
        pending.clear();
        self.retry_pending = pending;
    }

    /// How long after a job's last request its retry goes out when nothing has answered by
    /// then: one interval (at least a tenth of the timeout, so a zero interval does not retry
    /// before any reply could arrive). The retry overlaps the first requests' timeout, so a
    /// silent target costs one timeout in all, not one for its requests and one more for
    /// its retries.
    fn retry_delay(&self) -> u64 {
        self.p.interval.max(self.p.timeout / 10).as_nanos() as u64
    }

    /// The job whose request goes out next, when one is due (see the queues' order at
    /// [`Engine::send_q`]); `None` also when it is on another socket than `sock`.
    fn pop_due(&mut self, now: u64, sock: Option<usize>) -> Option<u32> {
        loop {
            // Jobs answered since they were queued as suspects lose their priority.
            while let Some(&(due, job)) = self.suspect_q.front() {
                if due > now || self.stats[job as usize].received == 0 {
                    break;
                }
                self.suspect_q.pop_front();
                self.ready_q.push_back(job);
            }
            let due = |q: &VecDeque<(u64, u32)>| q.front().filter(|x| x.0 <= now).map(|x| x.1);
            let (q, job) = if let Some(j) = due(&self.retry_q) {
                (Queue::Retry, j)
            } else if let Some(j) = due(&self.suspect_q) {
                (Queue::Suspect, j)
            } else if let Some(&j) = self.ready_q.front() {
                (Queue::Ready, j)
            } else if let Some(j) = due(&self.send_q) {
                (Queue::Send, j)
            } else {
                return None;
            };
            if let Some(s) = sock {
                if usize::from(self.job(job).sock) != s {
                    return None;
                }
            }
            match q {
                Queue::Retry => self.retry_q.pop_front().map(|_| ()),
                Queue::Suspect => self.suspect_q.pop_front().map(|_| ()),
                Queue::Ready => self.ready_q.pop_front().map(|_| ()),
                Queue::Send => self.send_q.pop_front().map(|_| ()),
            };
            if q != Queue::Retry {
                return Some(job);
            }
            // A retry goes out only while the job has had no answer at all.
            let st = &mut self.state[job as usize];
            if st.retry_queued {
                st.retry_queued = false;
                self.live_retries -= 1;
            }
            if self.stats[job as usize].received == 0 {
                self.expand_silent(job);
            }
            let st = &mut self.state[job as usize];
            if self.stats[job as usize].received == 0 && st.retries_left > 0 {
                st.retries_left -= 1;
                st.limit += 1;
                return Some(job);
            }
        }
    }

    fn send_one_batch(&mut self, now: Instant, sb: &mut SendBatch) -> Batch {
        let now = self.ns(now);
        let interval = self.p.interval.as_nanos() as u64;
        let retry_delay = self.retry_delay();
        let mut sock: Option<usize> = None;
        let mut items: [(u32, u16, u32); BATCH] = [(0, 0, 0); BATCH];
        let mut n = 0;
        sb.dests.clear();
        while n < BATCH && self.inflight < self.p.window && self.tokens >= 1.0 {
            let Some(job) = self.pop_due(now, sock) else {
                break;
            };
            let socks = self.socks;
            let jd = self.job(job).clone();
            let s = usize::from(jd.sock);
            sock = Some(s);
            let so = &socks[s];
            // Find a free sequence number (the window keeps fewer than 2^16 in flight).
            let ss = &mut self.ss[s];
            let mut seq = ss.next_seq;
            while ss.slots[seq as usize].live {
                seq = ss.after(seq);
            }
            ss.next_seq = ss.after(seq);
            self.token_gen = self.token_gen.wrapping_add(1);
            let st = &mut self.state[job as usize];
            let attempt = st.next_attempt;
            st.next_attempt += 1;
            st.outstanding += 1;
            let token = Token {
                nonce: self.nonce,
                job,
                attempt,
                slot: self.token_gen,
            };
            icmp::build_request(
                &mut sb.packets[n],
                so.v6,
                so.id,
                seq,
                token,
                usize::from(jd.payload),
            );
            sb.dests.push(sock::sockaddr(jd.dest, so.scope));
            ss.slots[seq as usize] = Slot {
                live: true,
                job,
                attempt,
                token: self.token_gen,
                sent_ns: sock::realtime_ns(),
            };
            self.inflight += 1;
            self.tokens -= 1.0;
            if st.next_attempt < st.limit {
                let q = if self.stats[job as usize].received == 0 {
                    &mut self.suspect_q
                } else {
                    &mut self.send_q
                };
                q.push_back((now + interval, job));
            } else if st.retries_left > 0 && self.stats[job as usize].received == 0 {
                st.retry_queued = true;
                self.live_retries += 1;
                self.retry_pending.push((now + retry_delay, job));
            }
            items[n] = (job, seq, self.token_gen);
            n += 1;
        }
        let Some(s) = sock else {
            return Batch::Nothing;
        };
        let deadline = self.ns(Instant::now()) + self.p.timeout.as_nanos() as u64;
        let mut failed: Vec<(usize, Cause)> = Vec::new();
        let consumed = sock::send_batch(&self.socks[s], sb, n, |i, r| match r {
            Ok(()) => {}
            Err(e) => failed.push((i, cause_of_errno(&e))),
        });
        let mut fi = failed.into_iter().peekable();
        for (i, &(job, seq, tok)) in items.iter().enumerate().take(consumed) {
            self.stats[job as usize].sent += 1;
            if fi.peek().is_some_and(|f| f.0 == i) {
                let cause = fi.next().map(|f| f.1);
                self.ss[s].slots[seq as usize].live = false;
                self.resolve(job, cause);
            } else {
                self.timeouts.push_back((deadline, s as u16, seq, tok));
            }
        }
        if consumed < n {
            // The socket would block: give the rest back, in order, to the front of the queue.
            for &(job, seq, _) in items[consumed..n].iter().rev() {
                self.ss[s].slots[seq as usize].live = false;
                let st = &mut self.state[job as usize];
                // Drop the follow-up (next request or retry) we queued for it; it is queued
                // again when sent.
                let follow_up: &mut [&mut VecDeque<(u64, u32)>] = if st.next_attempt < st.limit {
                    &mut [&mut self.suspect_q, &mut self.send_q]
                } else if st.retry_queued {
                    // Its check is still in `retry_pending`, dropped there once unflagged.
                    st.retry_queued = false;
                    self.live_retries -= 1;
                    &mut []
                } else {
                    &mut []
                };
                for q in follow_up.iter_mut() {
                    if let Some(pos) = q.iter().rposition(|x| x.1 == job) {
                        q.remove(pos);
                        break;
                    }
                }
                st.next_attempt -= 1;
                st.outstanding -= 1;
                self.inflight -= 1;
                self.tokens += 1.0;
                if self.stats[job as usize].received == 0 {
                    self.suspect_q.push_front((now, job));
                } else {
                    self.ready_q.push_front(job);
                }
            }
            return Batch::Blocked(s);
        }
        Batch::Sent(s)
    }

    fn drain_replies(&mut self, s: usize, rb: &mut RecvBatch) {
        let socks = self.socks;
        let so = &socks[s];
        let mut errors = 0;
        loop {
            let mut got: [(u16, Option<Token>, Option<IpAddr>, i64); BATCH] =
                [(0, None, None, 0); BATCH];
            let mut k = 0;
            let r = sock::recv_batch(so, rb, |from, data, ts| {
                if let Some(e) = icmp::parse_reply(data, so.v6, so.has_ip_header) {
                    if so.kind == SocketKind::Dgram || e.id == so.id {
                        got[k] = (e.seq, e.token, from, ts.unwrap_or_else(sock::realtime_ns));
                        k += 1;
                    }
                }
            });
            for &(seq, token, from, ts) in &got[..k] {
                self.on_reply(s, seq, token, from, ts);
            }
            match r {
                Ok(n) if n == BATCH => continue,
                Ok(_) => break,
                // A pending socket error (an ICMP error was queued): read the error queue.
                Err(_) => {
                    self.drain_errors(s);
                    errors += 1;
                    if errors > 2 {
                        break;
                    }
                }
            }
        }
    }

    fn on_reply(
        &mut self,
        s: usize,
        seq: u16,
        token: Option<Token>,
        from: Option<IpAddr>,
        ts: i64,
    ) {
        let Some(t) = token else { return };
        if t.nonce != self.nonce || t.job as usize >= self.jobs.len() + self.extra.len() {
            return;
        }
        // A sequence number from the wire: past this run's slots it is not ours.
        let Some(&slot) = self.ss[s].slots.get(seq as usize) else {
            return;
        };
        let job = t.job as usize;
        if from.is_some_and(|f| f != self.job(t.job).dest) {
            return;
        }
        if slot.live && slot.token == t.slot && slot.job == t.job && slot.attempt == t.attempt {
            self.ss[s].slots[seq as usize].live = false;
            let st = &mut self.stats[job];
            st.received += 1;
            let js = &mut self.state[job];
            if js.retry_queued {
                js.retry_queued = false;
                self.live_retries -= 1;
            }
            st.rtt.add(ts - slot.sent_ns);
            if t.attempt < 32 {
                self.state[job].answered |= 1u32 << t.attempt;
            }
            self.resolve(t.job, None);
        } else if t.attempt < 32 && self.state[job].answered & (1u32 << t.attempt) != 0 {
            self.stats[job].duplicates += 1;
        }
    }

    fn drain_errors(&mut self, s: usize) {
        let socks = self.socks;
        let so = &socks[s];
        for _ in 0..4096 {
            let q = match sock::recv_error(so) {
                Ok(Some(q)) => q,
                _ => break,
            };
            if q.origin == libc::SO_EE_ORIGIN_LOCAL {
                continue; // also returned synchronously by sendmmsg
            }
            let Some(echo) = icmp::parse_quoted_request(&q.data, so.v6) else {
                continue;
            };
            if so.kind == SocketKind::Raw && echo.id != so.id {
                continue;
            }
            let Some(&slot) = self.ss[s].slots.get(echo.seq as usize) else {
                continue;
            };
            if !slot.live {
                continue;
            }
            if let Some(t) = echo.token {
                if t.nonce != self.nonce || t.slot != slot.token {
                    continue;
                }
            }
            if q.dest.is_some_and(|d| d != self.job(slot.job).dest) {
                continue;
            }
            self.ss[s].slots[echo.seq as usize].live = false;
            self.resolve(slot.job, Some(cause_of_queued(&q)));
        }
        // Clear a pending socket error that had no queue entry, so POLLERR cannot spin.
        let _ = so.sock.take_error();
    }
}

/// The queues a due request is taken from (see [`Engine::send_q`]).
#[derive(Clone, Copy, PartialEq, Eq)]
enum Queue {
    Retry,
    Suspect,
    Ready,
    Send,
}

enum Batch {
    Nothing,
    Sent(usize),
    Blocked(usize),
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sock::{open, SockKey};

    fn loopback_socket() -> IcmpSocket {
        let key = SockKey {
            v6: false,
            source: None,
            device: None,
            df: false,
        };
        open(&key, Some(SocketKind::Raw), 1 << 20, 0x5eed).expect("raw socket (tests run as root)")
    }

    fn params() -> Params {
        Params {
            interval: Duration::from_millis(1),
            timeout: Duration::from_millis(500),
            rate: None,
            window: 64,
            deadline: None,
        }
    }

    fn job(dest: &str, count: u32) -> Job {
        Job {
            dest: dest.parse().unwrap(),
            sock: 0,
            payload: 56,
            retries: 0,
            count,
        }
    }

    #[test]
    fn many_targets_through_a_small_window_all_answer_once_each() {
        let socks = [loopback_socket()];
        let jobs: Vec<Job> = (1..=200)
            .map(|i| job(&format!("127.9.{}.{}", i / 250, i % 250 + 1), 3))
            .collect();
        let mut p = params();
        p.window = 7;
        let stats = run(&socks, &jobs, p, 42);
        for s in &stats {
            assert_eq!((s.sent, s.received, s.duplicates), (3, 3, 0));
            assert!(s.failure().is_none());
            assert_eq!(s.rtt.count(), 3);
        }
    }

    #[test]
    fn rate_cap_paces_the_run() {
        let socks = [loopback_socket()];
        let jobs: Vec<Job> = (1..=60).map(|i| job(&format!("127.8.0.{i}"), 1)).collect();
        let mut p = params();
        p.rate = Some(200);
        let t = Instant::now();
        let stats = run(&socks, &jobs, p, 43);
        // burst of 2, then 200/s: 58 more packets need about 0.29 s
        assert!(
            t.elapsed() >= Duration::from_millis(250),
            "{:?}",
            t.elapsed()
        );
        assert!(stats.iter().all(|s| s.received == 1));
    }

    /// An engine over `jobs` with nothing queued or in flight, every job allowed 2 requests.
    fn bare<'a>(socks: &'a [IcmpSocket], jobs: &'a [Job]) -> Engine<'a> {
        Engine {
            socks,
            jobs,
            p: params(),
            nonce: 7,
            state: vec![
                JobState {
                    limit: 2,
                    ..JobState::default()
                };
                jobs.len()
            ],
            stats: vec![JobStats::default(); jobs.len()],
            ss: vec![SockState {
                slots: vec![Slot::default(); 1 << 16],
                next_seq: 0,
            }],
            t0: Instant::now(),
            send_q: VecDeque::new(),
            suspect_q: VecDeque::new(),
            ready_q: VecDeque::new(),
            retry_q: VecDeque::new(),
            live_retries: 0,
            retry_pending: Vec::new(),
            extra: Vec::new(),
            expand: None,
            timeouts: VecDeque::new(),
            inflight: 0,
            token_gen: 0,
            tokens: f64::INFINITY,
            last_refill: Instant::now(),
        }
    }

    /// Behind schedule, retries go first, then unanswered jobs, then answered ones (those
    /// found answered among the suspects before the rest); on schedule, due order.
    #[test]
    fn behind_schedule_silent_jobs_go_first() {
        let socks = [loopback_socket()];
        let jobs: Vec<Job> = (1..=5).map(|i| job(&format!("127.0.0.{i}"), 2)).collect();
        let mut e = bare(&socks, &jobs);
        e.stats[0].received = 1;
        e.stats[1].received = 1;
        e.send_q.push_back((10, 0));
        e.suspect_q.push_back((20, 1)); // answered since it was queued
        e.suspect_q.push_back((30, 2));
        e.state[3].retries_left = 1;
        e.state[3].retry_queued = true;
        e.state[4].retries_left = 1;
        e.state[4].retry_queued = true;
        e.stats[4].received = 1; // answered since its retry check was queued: no retry
        e.live_retries = 2;
        e.retry_q.push_back((35, 4));
        e.retry_q.push_back((40, 3));
        // On schedule: only what is due, in due order.
        assert_eq!(e.pop_due(15, None), Some(0));
        assert_eq!(e.pop_due(15, None), None);
        e.send_q.push_back((10, 0));
        let order: Vec<u32> = std::iter::from_fn(|| e.pop_due(100, None)).collect();
        assert_eq!(order, [3, 2, 1, 0]);
        assert_eq!(e.live_retries, 0);
        assert_eq!(
            (e.state[3].limit, e.state[3].retries_left),
            (3, 0),
            "the retry is one more request"
        );
        assert_eq!(
            (e.state[4].limit, e.state[4].retries_left),
            (2, 1),
            "an answered job does not retry"
        );
    }

    #[test]
    fn replies_are_matched_by_sequence_and_token_duplicates_and_strays_told_apart() {
        let socks = [loopback_socket()];
        let jobs = [job("127.0.0.1", 2), job("127.0.0.2", 2)];
        let mut e = bare(&socks, &jobs);
        // Two requests in flight: job 1 attempt 0 on seq 10, job 0 attempt 1 on seq 11.
        let sent = 1_000_000;
        e.ss[0].slots[10] = Slot {
            live: true,
            job: 1,
            attempt: 0,
            token: 100,
            sent_ns: sent,
        };
        e.ss[0].slots[11] = Slot {
            live: true,
            job: 0,
            attempt: 1,
            token: 101,
            sent_ns: sent,
        };
        e.state[1].outstanding = 1;
        e.state[0].outstanding = 1;
        e.inflight = 2;
        let tok = |job, attempt, slot| {
            Some(Token {
                nonce: 7,
                job,
                attempt,
                slot,
            })
        };
        let a2: Option<IpAddr> = Some("127.0.0.2".parse().unwrap());
        let a1: Option<IpAddr> = Some("127.0.0.1".parse().unwrap());
        // another run's packet (wrong nonce) and a wrong source are ignored
        e.on_reply(
            0,
            10,
            Some(Token {
                nonce: 8,
                job: 1,
                attempt: 0,
                slot: 100,
            }),
            a2,
            sent + 5,
        );
        e.on_reply(0, 10, tok(1, 0, 100), a1, sent + 5);
        assert_eq!(e.stats[1].received, 0);
        // the real reply: matched by seq 10, RTT from the send time
        e.on_reply(0, 10, tok(1, 0, 100), a2, sent + 250_000);
        assert_eq!(e.stats[1].received, 1);
        assert_eq!(e.stats[1].rtt.stats().unwrap().min_ms, 0.25);
        assert_eq!(e.inflight, 1);
        // the same reply again is a duplicate, not a second answer
        e.on_reply(0, 10, tok(1, 0, 100), a2, sent + 300_000);
        assert_eq!((e.stats[1].received, e.stats[1].duplicates), (1, 1));
        // a late reply whose seq was reused by another request (different slot token)
        // neither answers the new request nor counts as a duplicate
        e.ss[0].slots[10] = Slot {
            live: true,
            job: 0,
            attempt: 0,
            token: 102,
            sent_ns: sent,
        };
        e.state[0].outstanding += 1;
        e.inflight += 1;
        e.on_reply(0, 10, tok(1, 1, 99), a2, sent + 400_000);
        assert_eq!(e.stats[0].received, 0);
        assert_eq!(e.stats[1].duplicates, 1);
        assert!(e.ss[0].slots[10].live);
        // out-of-range job index in a forged token is ignored
        e.on_reply(0, 11, tok(99, 1, 101), a1, sent);
        assert!(e.ss[0].slots[11].live);
        e.on_reply(0, 11, tok(0, 1, 101), a1, sent + 1_000);
        assert_eq!(e.stats[0].received, 1);
        assert!(!e.ss[0].slots[11].live);
    }

    #[test]
    fn kernel_errors_map_to_causes() {
        let q = |origin, t, c, info| QueuedError {
            dest: None,
            origin,
            icmp_type: t,
            icmp_code: c,
            errno: 0,
            info,
            data: Vec::new(),
        };
        assert_eq!(
            cause_of_queued(&q(libc::SO_EE_ORIGIN_ICMP, 3, 0, 0)),
            Cause::Net
        );
        assert_eq!(
            cause_of_queued(&q(libc::SO_EE_ORIGIN_ICMP, 3, 1, 0)),
            Cause::Host
        );
        assert_eq!(
            cause_of_queued(&q(libc::SO_EE_ORIGIN_ICMP, 3, 13, 0)),
            Cause::Admin
        );
        assert_eq!(
            cause_of_queued(&q(libc::SO_EE_ORIGIN_ICMP, 3, 4, 1400)),
            Cause::Frag(Some(1400))
        );
        assert_eq!(
            cause_of_queued(&q(libc::SO_EE_ORIGIN_ICMP6, 2, 0, 1280)),
            Cause::Frag(Some(1280))
        );
        assert_eq!(
            cause_of_queued(&q(libc::SO_EE_ORIGIN_ICMP6, 1, 1, 0)),
            Cause::Admin
        );
        assert_eq!(
            cause_of_queued(&q(libc::SO_EE_ORIGIN_ICMP6, 1, 3, 0)),
            Cause::Host
        );
        assert!(matches!(
            cause_of_queued(&q(libc::SO_EE_ORIGIN_ICMP, 11, 0, 0)).to_failure(),
            FailureCause::Other { message } if message.contains("time exceeded")
        ));
        let e = io::Error::from_raw_os_error(libc::EMSGSIZE);
        assert_eq!(cause_of_errno(&e), Cause::Frag(None));
        let e = io::Error::from_raw_os_error(libc::ENETUNREACH);
        assert_eq!(
            cause_of_errno(&e).to_failure(),
            FailureCause::NetworkUnreachable
        );
        let e = io::Error::from_raw_os_error(libc::EPERM);
        assert!(matches!(
            cause_of_errno(&e).to_failure(),
            FailureCause::LocalError { .. }
        ));
    }
}
