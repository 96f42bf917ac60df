//! Steady client load on one address, bounded in count and time, and what it counted: every
//! request's outcome, with the first failures described.

use super::http::{Api, client_builder};
use serde_json::json;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// Every load stops by itself after this long, whatever the test does.
const MAX_DURATION: Duration = Duration::from_secs(90);
/// Pause between two requests of one worker: steady load, not saturation.
const PAUSE: Duration = Duration::from_millis(2);

/// How the workers' HTTP clients behave.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Client {
    /// Keep-alive connections, nothing retried: the strictest client there is.
    Strict,
    /// Keep-alive connections; a GET whose connection broke without an answer is sent once
    /// more, as browsers, curl and Go's net/http do (RFC 9112, 9.3.1). A request that times
    /// out is never retried.
    RetryingGets,
    /// A new connection for every request (nothing is ever sent on a connection the server
    /// may be closing), nothing retried.
    ConnectionPerRequest,
}

fn client(kind: Client) -> reqwest::Client {
    let builder = client_builder().timeout(Duration::from_secs(30));
    match kind {
        Client::ConnectionPerRequest => builder.pool_max_idle_per_host(0),
        Client::Strict | Client::RetryingGets => builder,
    }
    .build()
    .unwrap()
}

/// What a worker sends.
#[derive(Clone, Debug)]
pub enum Request {
    /// `GET /{code}`, expecting 302: each one answered is a click to be stored.
    Redirect(String),
    /// `POST /urls`, expecting 201.
    Create,
}

/// One answered or failed request: when it started (since the load began), how long it
/// took, and whether it got the expected answer.
#[derive(Clone, Copy, Debug)]
pub struct Sample {
    pub at: Duration,
    pub latency: Duration,
    pub ok: bool,
}

#[derive(Debug, Default)]
pub struct Counts {
    pub ok: u64,
    pub failed: u64,
    /// GETs sent a second time after their connection broke ([`Client::RetryingGets`]).
    pub client_retries: u64,
    /// The first failures, described.
    pub failures: Vec<String>,
    pub samples: Vec<Sample>,
}

impl Counts {
    /// Median latency of the successful requests started in `[from, to)`, for the record.
    pub fn median_latency(&self, from: Duration, to: Duration) -> Option<Duration> {
        let mut latencies: Vec<Duration> = self
            .samples
            .iter()
            .filter(|s| s.ok && s.at >= from && s.at < to)
            .map(|s| s.latency)
            .collect();
        latencies.sort();
        latencies.get(latencies.len() / 2).copied()
    }
}

pub struct Load {
    pub started: Instant,
    stop: Arc<AtomicBool>,
    tasks: Vec<tokio::task::JoinHandle<Counts>>,
}

impl Load {
    /// `workers` tasks, each sending `request` to `base` with a [`Client::Strict`] client
    /// until stopped, at most `max_each` times and for at most [`MAX_DURATION`].
    pub fn start(target: &Api, request: Request, workers: usize, max_each: usize) -> Self {
        Self::with_client(Client::Strict, target, request, workers, max_each)
    }

    pub fn with_client(
        kind: Client,
        target: &Api,
        request: Request,
        workers: usize,
        max_each: usize,
    ) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let started = Instant::now();
        let tasks = (0..workers)
            .map(|worker| {
                let (stop, base, request) = (stop.clone(), target.address.clone(), request.clone());
                tokio::spawn(async move {
                    let client = client(kind);
                    let mut counts = Counts::default();
                    for i in 0..max_each {
                        if stop.load(Ordering::Relaxed) || started.elapsed() > MAX_DURATION {
                            break;
                        }
                        let at = started.elapsed();
                        let begun = Instant::now();
                        let mut outcome = send(&client, &base, &request, worker, i).await;
                        if let (
                            Err(Failure::Connection(_)),
                            Request::Redirect(_),
                            Client::RetryingGets,
                        ) = (&outcome, &request, kind)
                        {
                            counts.client_retries += 1;
                            outcome = send(&client, &base, &request, worker, i).await;
                        }
                        let latency = begun.elapsed();
                        let ok = outcome.is_ok();
                        match outcome {
                            Ok(()) => counts.ok += 1,
                            Err(why) => {
                                counts.failed += 1;
                                if counts.failures.len() < 10 {
                                    counts.failures.push(format!("{why} (at {at:?})"));
                                }
                            }
                        }
                        counts.samples.push(Sample { at, latency, ok });
                        tokio::time::sleep(PAUSE).await;
                    }
                    counts
                })
            })
            .collect();
        Self {
            started,
            stop,
            tasks,
        }
    }

    pub async fn finish(self) -> Counts {
        self.stop.store(true, Ordering::Relaxed);
        let mut total = Counts::default();
        for task in self.tasks {
            let counts = task.await.unwrap();
            total.ok += counts.ok;
            total.failed += counts.failed;
            total.client_retries += counts.client_retries;
            total.failures.extend(counts.failures);
            total.samples.extend(counts.samples);
        }
        total.samples.sort_by_key(|s| s.at);
        total
    }
}

/// Why a request did not get its expected answer.
#[derive(Debug)]
pub enum Failure {
    /// The connection broke (or never opened) before an answer came.
    Connection(String),
    /// No answer within the client's timeout: the server may have acted on it.
    Timeout(String),
    /// An answer, but not the expected one.
    Status(u16, String),
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Connection(what) => write!(f, "connection: {what}"),
            Self::Timeout(what) => write!(f, "timeout: {what}"),
            Self::Status(status, what) => write!(f, "status {status}: {what}"),
        }
    }
}

async fn send(
    client: &reqwest::Client,
    base: &str,
    request: &Request,
    worker: usize,
    i: usize,
) -> Result<(), Failure> {
    let (expected, response) = match request {
        Request::Redirect(code) => (302, client.get(format!("{base}/{code}")).send().await),
        Request::Create => (
            201,
            client
                .post(format!("{base}/urls"))
                .json(&json!({"original_url": format!("https://example.com/{worker}/{i}")}))
                .send()
                .await,
        ),
    };
    let response = response.map_err(|e| {
        let what = format!("{request:?}: {e:?}");
        if e.is_timeout() {
            Failure::Timeout(what)
        } else {
            Failure::Connection(what)
        }
    })?;
    let status = response.status().as_u16();
    if status == expected {
        return Ok(());
    }
    let body = response.text().await.unwrap_or_default();
    Err(Failure::Status(status, format!("{request:?}: {body}")))
}

/// A connection of its own to the store at `url` that runs `begin` (a transaction left open:
/// `BEGIN IMMEDIATE`, `BEGIN; LOCK TABLE …`) and holds what it took until its `COMMIT`.
pub async fn holding<C>(url: &str, begin: &'static str) -> C
where
    C: sqlx::Connection,
    for<'c> &'c mut C: sqlx::Executor<'c>,
{
    let mut lock = C::connect(url).await.unwrap();
    sqlx::raw_sql(begin).execute(&mut lock).await.unwrap();
    lock
}

/// Follows `code` `tasks × each` times at once, behind a click writer held up (see
/// [`holding`]), and returns once a redirect has had to wait for room in the click queue,
/// with the redirects still running.
pub async fn fill_the_click_queue(
    api: &Api,
    code: &str,
    tasks: usize,
    each: usize,
) -> tokio::task::JoinHandle<()> {
    let redirects = tokio::spawn({
        let (api, code) = (api.clone(), code.to_owned());
        async move { api.follow_concurrently(&code, tasks, each).await }
    });
    let started = Instant::now();
    while api.metric("kurz_click_queue_waits_total").await == 0.0 {
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "{} redirects behind a held-up writer never waited for room",
            tasks * each
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    redirects
}

/// Fills the click queue with 200 redirects of `code` (url `url_id`, followed once and its
/// click stored) while `lock` holds the click writer up without failing it (see
/// [`holding`]); keeps the lock `held` longer, commits it, and checks that every click is
/// stored and none dropped.
pub async fn clicks_wait_out_a_held_lock<C>(
    api: &Api,
    (code, url_id): (&str, i64),
    lock: &mut C,
    held: Duration,
) where
    for<'c> &'c mut C: sqlx::Executor<'c>,
{
    let redirects = fill_the_click_queue(api, code, 20, 10).await;
    tokio::time::sleep(held).await;
    sqlx::raw_sql("COMMIT").execute(&mut *lock).await.unwrap();
    redirects.await.unwrap();

    assert_eq!(api.clicks_stored(url_id, 201).await, 201);
    assert_eq!(api.metric("kurz_clicks_dropped_total").await, 0.0);
}
