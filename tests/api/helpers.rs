//! Test harness: an in-process application per test, a handle on the real binary, and
//! small typed helpers around the HTTP API.

use kurz::app::Application;
use kurz::config::Settings;
use reqwest::header::{CONTENT_TYPE, HeaderMap};
use reqwest::{Client, Method, RequestBuilder, StatusCode};
use serde_json::{Value, json};
use std::collections::BTreeSet;
use std::net::{SocketAddr, TcpListener};
use std::ops::Deref;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};
use tempfile::TempDir;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// The keys of each object kind, exactly.
pub const USER_KEYS: &[&str] = &["id", "username", "email", "created_at"];
pub const URL_KEYS: &[&str] = &[
    "id",
    "user_id",
    "short_code",
    "original_url",
    "title",
    "is_active",
    "created_at",
    "updated_at",
];
pub const EVENT_KEYS: &[&str] = &[
    "id",
    "url_id",
    "user_id",
    "event_type",
    "timestamp",
    "details",
];

/// Where the shared seed files live (`../shared/data` next to the repository), unless
/// `KURZ_SEED_DIR` says otherwise.
pub fn seed_dir() -> PathBuf {
    std::env::var_os("KURZ_SEED_DIR").map_or_else(
        || Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/data"),
        PathBuf::from,
    )
}

pub fn seed_file(name: &str) -> PathBuf {
    let path = seed_dir().join(name);
    assert!(path.is_file(), "seed file {} is missing", path.display());
    path
}

pub fn read_seed(name: &str) -> Vec<u8> {
    std::fs::read(seed_file(name)).expect("reading a seed file")
}

/// Seed CSV rows as maps from column name to text.
pub fn seed_rows(name: &str) -> Vec<std::collections::HashMap<String, String>> {
    let mut reader = csv::Reader::from_path(seed_file(name)).expect("opening a seed CSV");
    let headers = reader.headers().expect("seed CSV header").clone();
    reader
        .records()
        .map(|record| {
            let record = record.expect("seed CSV row");
            headers
                .iter()
                .zip(record.iter())
                .map(|(h, v)| (h.to_owned(), v.to_owned()))
                .collect()
        })
        .collect()
}

/// The seed files write `2025-09-19 22:25:05`; the API writes `2025-09-19T22:25:05`.
pub fn wire_datetime(seed: &str) -> String {
    seed.trim().replacen(' ', "T", 1)
}

// ---------------------------------------------------------------------------------------------
// Responses
// ---------------------------------------------------------------------------------------------

/// A response read to the end.
#[derive(Debug)]
pub struct Reply {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: String,
}

impl Reply {
    pub fn header(&self, name: &str) -> Option<String> {
        self.headers
            .get(name)
            .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
    }

    /// The body as JSON; panics (showing the body) when it is not.
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or_else(|err| {
            panic!(
                "{} response body is not JSON ({err}): {:?}",
                self.status, self.body
            )
        })
    }

    /// Asserts the status, showing the body when it differs.
    pub fn expect(self, status: u16) -> Self {
        self.check_status(status);
        self
    }

    pub fn check_status(&self, status: u16) {
        assert_eq!(
            self.status.as_u16(),
            status,
            "unexpected status; body: {}",
            self.body
        );
    }

    /// Asserts the status and a JSON content type; returns the body.
    pub fn expect_json(&self, status: u16) -> Value {
        self.check_status(status);
        self.assert_json_content_type();
        self.json()
    }

    pub fn assert_json_content_type(&self) {
        let content_type = self.header("content-type").unwrap_or_default();
        assert!(
            content_type.starts_with("application/json"),
            "{} answered with Content-Type {content_type:?}, expected JSON; body: {}",
            self.status,
            self.body
        );
    }

    /// Asserts an error answer of the contract: the status, a JSON body with a non-empty
    /// `error` string and, when present, `details` as an object of strings.
    pub fn expect_error(&self, status: u16) -> Value {
        let body = self.expect_json(status);
        assert_error_body(&body, status);
        body
    }

    /// Asserts a 422 whose `details` names `field`.
    pub fn expect_invalid(&self, field: &str) -> Value {
        let body = self.expect_error(422);
        let details = body
            .get("details")
            .and_then(Value::as_object)
            .unwrap_or_else(|| panic!("422 without a details object: {body}"));
        assert!(
            details.contains_key(field),
            "422 details do not name {field:?}: {body}"
        );
        body
    }

    /// The body as a JSON array.
    pub fn items(&self) -> Vec<Value> {
        match self.json() {
            Value::Array(items) => items,
            other => panic!("expected a JSON array, got {other}"),
        }
    }

    /// `X-Total-Count` as a number.
    pub fn total(&self) -> i64 {
        let raw = self
            .header("x-total-count")
            .unwrap_or_else(|| panic!("list response without X-Total-Count: {}", self.status));
        raw.trim()
            .parse()
            .unwrap_or_else(|_| panic!("X-Total-Count is not an integer: {raw:?}"))
    }

    /// A 200 list: its items (checked to be ordered by id) and its `X-Total-Count`.
    pub fn list(&self) -> (Vec<Value>, i64) {
        self.check_status(200);
        self.assert_json_content_type();
        let items = self.items();
        assert_ordered_by_id(&items);
        (items, self.total())
    }
}

pub fn assert_error_body(body: &Value, status: u16) {
    let error = body
        .get("error")
        .unwrap_or_else(|| panic!("{status} body has no \"error\": {body}"));
    assert!(
        error.as_str().is_some_and(|e| !e.trim().is_empty()),
        "{status} body's \"error\" is not a non-empty string: {body}"
    );
    // Never internals: no driver errors, panics, stack traces or HTML.
    let text = body.to_string().to_ascii_lowercase();
    for leak in [
        "sqlx",
        "sqlite",
        "panicked",
        "stack backtrace",
        "<html",
        "src/",
    ] {
        assert!(
            !text.contains(leak),
            "{status} body leaks internals ({leak:?}): {body}"
        );
    }
    if let Some(details) = body.get("details") {
        let details = details
            .as_object()
            .unwrap_or_else(|| panic!("\"details\" is not an object: {body}"));
        for (field, problem) in details {
            assert!(
                problem.is_string(),
                "details.{field} is not a string: {body}"
            );
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Object shapes
// ---------------------------------------------------------------------------------------------

/// `YYYY-MM-DDTHH:MM:SS`, a real date and time, no zone, no fraction.
pub fn is_wire_datetime(text: &str) -> bool {
    let bytes = text.as_bytes();
    let shape = bytes.len() == 19
        && bytes.iter().enumerate().all(|(i, c)| match i {
            4 | 7 => *c == b'-',
            10 => *c == b'T',
            13 | 16 => *c == b':',
            _ => c.is_ascii_digit(),
        });
    let format = time::macros::format_description!("[year]-[month]-[day]T[hour]:[minute]:[second]");
    shape && time::PrimitiveDateTime::parse(text, format).is_ok()
}

pub fn assert_datetime(value: &Value, what: &str) {
    let text = value
        .as_str()
        .unwrap_or_else(|| panic!("{what} is not a string: {value}"));
    assert!(
        is_wire_datetime(text),
        "{what} is not YYYY-MM-DDTHH:MM:SS: {text:?}"
    );
}

pub fn keys(value: &Value) -> BTreeSet<String> {
    value
        .as_object()
        .unwrap_or_else(|| panic!("expected a JSON object, got {value}"))
        .keys()
        .cloned()
        .collect()
}

fn assert_keys(value: &Value, expected: &[&str], kind: &str) {
    let expected: BTreeSet<String> = expected.iter().map(|k| (*k).to_owned()).collect();
    assert_eq!(keys(value), expected, "{kind} has the wrong keys: {value}");
}

fn assert_id(value: &Value, what: &str) {
    assert!(
        value.as_i64().is_some_and(|id| id > 0),
        "{what} is not a positive integer: {value}"
    );
}

fn assert_optional_id(value: &Value, what: &str) {
    if !value.is_null() {
        assert_id(value, what);
    }
}

pub fn assert_user(user: &Value) {
    assert_keys(user, USER_KEYS, "user");
    assert_id(&user["id"], "user.id");
    assert!(user["username"].is_string(), "user.username: {user}");
    assert!(user["email"].is_string(), "user.email: {user}");
    assert_datetime(&user["created_at"], "user.created_at");
}

pub fn assert_url(url: &Value) {
    assert_keys(url, URL_KEYS, "url");
    assert_id(&url["id"], "url.id");
    assert_optional_id(&url["user_id"], "url.user_id");
    assert!(url["short_code"].is_string(), "url.short_code: {url}");
    assert!(url["original_url"].is_string(), "url.original_url: {url}");
    assert!(
        url["title"].is_string() || url["title"].is_null(),
        "url.title: {url}"
    );
    assert!(url["is_active"].is_boolean(), "url.is_active: {url}");
    assert_datetime(&url["created_at"], "url.created_at");
    assert_datetime(&url["updated_at"], "url.updated_at");
}

pub fn assert_event(event: &Value) {
    assert_keys(event, EVENT_KEYS, "event");
    assert_id(&event["id"], "event.id");
    assert_optional_id(&event["url_id"], "event.url_id");
    assert_optional_id(&event["user_id"], "event.user_id");
    assert!(
        event["event_type"].as_str().is_some_and(|t| !t.is_empty()),
        "event.event_type: {event}"
    );
    assert_datetime(&event["timestamp"], "event.timestamp");
    assert!(
        event["details"].is_object(),
        "event.details must always be a JSON object: {event}"
    );
}

pub fn assert_ordered_by_id(items: &[Value]) {
    let ids: Vec<i64> = items.iter().map(id_of).collect();
    assert!(
        ids.windows(2).all(|w| w[0] < w[1]),
        "list is not ordered by id: {ids:?}"
    );
}

pub fn id_of(item: &Value) -> i64 {
    item["id"]
        .as_i64()
        .unwrap_or_else(|| panic!("no integer id: {item}"))
}

pub fn ids(items: &[Value]) -> Vec<i64> {
    items.iter().map(id_of).collect()
}

pub fn str_of<'a>(item: &'a Value, key: &str) -> &'a str {
    item[key]
        .as_str()
        .unwrap_or_else(|| panic!("{key} is not a string: {item}"))
}

/// A generated code: 6 characters of `[A-Za-z0-9]`.
pub fn is_generated_code(code: &str) -> bool {
    code.len() == 6 && code.chars().all(|c| c.is_ascii_alphanumeric())
}

// ---------------------------------------------------------------------------------------------
// The HTTP client side, shared by the in-process app and the real binary
// ---------------------------------------------------------------------------------------------

/// A client for one running kurz.
#[derive(Clone)]
pub struct Api {
    /// `http://127.0.0.1:PORT`
    pub address: String,
    /// Never follows redirects: the targets are off-machine.
    pub client: Client,
}

pub fn test_client() -> Client {
    Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .no_proxy()
        .timeout(Duration::from_secs(60))
        .build()
        .expect("building the HTTP client")
}

impl Api {
    pub fn new(addr: SocketAddr) -> Self {
        Self {
            address: format!("http://{addr}"),
            client: test_client(),
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.address, path)
    }

    pub fn request(&self, method: Method, path: &str) -> RequestBuilder {
        self.client.request(method, self.url(path))
    }

    /// Sends a request and reads the whole answer.
    pub async fn send(&self, request: RequestBuilder) -> Reply {
        let response = request.send().await.expect("sending the request");
        let status = response.status();
        let headers = response.headers().clone();
        let body = response.text().await.expect("reading the response body");
        Reply {
            status,
            headers,
            body,
        }
    }

    pub async fn get(&self, path: &str) -> Reply {
        self.send(self.request(Method::GET, path)).await
    }

    pub async fn get_with_headers(&self, path: &str, headers: &[(&str, &str)]) -> Reply {
        let mut request = self.request(Method::GET, path);
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        self.send(request).await
    }

    /// A GET carrying its filters as a JSON body.
    pub async fn get_json(&self, path: &str, body: &Value) -> Reply {
        self.send(self.request(Method::GET, path).json(body)).await
    }

    pub async fn delete(&self, path: &str) -> Reply {
        self.send(self.request(Method::DELETE, path)).await
    }

    pub async fn post_json(&self, path: &str, body: &Value) -> Reply {
        self.send(self.request(Method::POST, path).json(body)).await
    }

    pub async fn put_json(&self, path: &str, body: &Value) -> Reply {
        self.send(self.request(Method::PUT, path).json(body)).await
    }

    /// Any body with any (or no) content type.
    pub async fn raw(
        &self,
        method: Method,
        path: &str,
        body: impl Into<reqwest::Body>,
        content_type: Option<&str>,
    ) -> Reply {
        let mut request = self.request(method, path).body(body);
        if let Some(content_type) = content_type {
            request = request.header(CONTENT_TYPE, content_type);
        }
        self.send(request).await
    }

    pub async fn post_raw(
        &self,
        path: &str,
        body: impl Into<reqwest::Body>,
        content_type: Option<&str>,
    ) -> Reply {
        self.raw(Method::POST, path, body, content_type).await
    }

    pub async fn put_raw(
        &self,
        path: &str,
        body: impl Into<reqwest::Body>,
        content_type: Option<&str>,
    ) -> Reply {
        self.raw(Method::PUT, path, body, content_type).await
    }

    pub async fn post_multipart(&self, path: &str, form: reqwest::multipart::Form) -> Reply {
        self.send(self.request(Method::POST, path).multipart(form))
            .await
    }

    /// Writes raw bytes to the server and reads the answer until the server closes the
    /// connection (send `Connection: close`). Reads while writing, so an early answer (e.g. a
    /// 413 before the whole body is sent) is seen. Returns the status, the header block and
    /// the body.
    pub async fn raw_http(&self, request: Vec<u8>) -> (u16, String, String) {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let host = self.address.trim_start_matches("http://").to_owned();
        let stream = tokio::net::TcpStream::connect(&host)
            .await
            .expect("connecting to the server");
        let (mut reader, mut writer) = stream.into_split();
        let write = tokio::spawn(async move {
            // The server may answer and close before reading everything: not an error here.
            let _ = writer.write_all(&request).await;
            let _ = writer.flush().await;
            writer
        });
        let mut answer = Vec::new();
        let mut chunk = vec![0_u8; 64 * 1024];
        let read = async {
            loop {
                match reader.read(&mut chunk).await {
                    Ok(0) | Err(_) => break,
                    Ok(n) => answer.extend_from_slice(&chunk[..n]),
                }
            }
        };
        tokio::time::timeout(Duration::from_secs(60), read)
            .await
            .expect("the server answered within 60 s");
        drop(write.await);
        let text = String::from_utf8_lossy(&answer).into_owned();
        let (head, body) = text
            .split_once("\r\n\r\n")
            .unwrap_or_else(|| panic!("no HTTP answer: {text:?}"));
        let status = head
            .split_whitespace()
            .nth(1)
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| panic!("no status line: {head:?}"));
        (status, head.to_owned(), body.to_owned())
    }

    // --- typed helpers ---------------------------------------------------------------------

    /// `POST /users` with `{name}@example.com`; asserts 201 and the user shape.
    pub async fn create_user(&self, username: &str) -> Value {
        self.create_user_with(username, &format!("{username}@example.com"))
            .await
    }

    pub async fn create_user_with(&self, username: &str, email: &str) -> Value {
        let user = self
            .post_json("/users", &json!({ "username": username, "email": email }))
            .await
            .expect_json(201);
        assert_user(&user);
        user
    }

    /// `POST /urls`; asserts 201 and the url shape.
    pub async fn create_url(&self, body: &Value) -> Value {
        let url = self.post_json("/urls", body).await.expect_json(201);
        assert_url(&url);
        url
    }

    /// A url without an owner.
    pub async fn shorten(&self, original_url: &str) -> Value {
        self.create_url(&json!({ "original_url": original_url }))
            .await
    }

    /// A url owned by `user_id`.
    pub async fn shorten_for(&self, user_id: i64, original_url: &str) -> Value {
        self.create_url(&json!({ "original_url": original_url, "user_id": user_id }))
            .await
    }

    /// `GET /events?{query}`: every event, each checked for its shape.
    pub async fn events(&self, query: &str) -> Vec<Value> {
        let path = if query.is_empty() {
            "/events".to_owned()
        } else {
            format!("/events?{query}")
        };
        let (events, total) = self.get(&path).await.list();
        assert_eq!(
            total,
            events.len() as i64,
            "X-Total-Count of an unpaginated list"
        );
        for event in &events {
            assert_event(event);
        }
        events
    }

    /// The `click` events of one url.
    pub async fn clicks(&self, url_id: i64) -> Vec<Value> {
        self.events(&format!("url_id={url_id}&event_type=click"))
            .await
    }

    /// `X-Total-Count` of a list path.
    pub async fn count(&self, path: &str) -> i64 {
        self.get(path).await.expect(200).total()
    }

    /// `POST /users/bulk` with `csv` as the `file` part.
    pub async fn bulk_import(&self, csv: Vec<u8>, row_count: Option<&str>) -> Reply {
        let part = reqwest::multipart::Part::bytes(csv)
            .file_name("users.csv")
            .mime_str("text/csv")
            .expect("mime type");
        let mut form = reqwest::multipart::Form::new().part("file", part);
        if let Some(rows) = row_count {
            form = form.text("row_count", rows.to_owned());
        }
        self.post_multipart("/users/bulk", form).await
    }
}

/// A users CSV with `n` rows, ids 1..=n.
pub fn users_csv(n: usize) -> Vec<u8> {
    let mut csv = String::from("id,username,email,created_at\n");
    for i in 1..=n {
        csv.push_str(&format!(
            "{i},user{i:05},user{i:05}@example.com,2025-01-01 00:00:00\n"
        ));
    }
    csv.into_bytes()
}

// ---------------------------------------------------------------------------------------------
// The application, in process
// ---------------------------------------------------------------------------------------------

/// One running application with its own data directory and port.
pub struct TestApp {
    pub api: Api,
    data_dir: Option<TempDir>,
    shutdown: Option<oneshot::Sender<()>>,
    server: Option<JoinHandle<anyhow::Result<()>>>,
}

impl Deref for TestApp {
    type Target = Api;
    fn deref(&self) -> &Api {
        &self.api
    }
}

pub async fn spawn_app() -> TestApp {
    spawn_app_in(TempDir::new().expect("creating a temporary data directory")).await
}

/// Starts an application on an existing data directory (e.g. after [`TestApp::stop`]).
pub async fn spawn_app_in(data_dir: TempDir) -> TestApp {
    spawn_app_in_with(data_dir, |_| {}).await
}

/// Starts an application whose default settings `configure` adjusts.
pub async fn spawn_app_with(configure: impl FnOnce(&mut Settings)) -> TestApp {
    let data_dir = TempDir::new().expect("creating a temporary data directory");
    spawn_app_in_with(data_dir, configure).await
}

async fn spawn_app_in_with(data_dir: TempDir, configure: impl FnOnce(&mut Settings)) -> TestApp {
    let mut settings = Settings::embedded(data_dir.path().to_path_buf());
    configure(&mut settings);
    let app = Application::build(settings)
        .await
        .expect("building the application");
    let addr = app.local_addr().expect("reading the bound address");
    assert!(addr.ip().is_loopback(), "tests listen on loopback only");
    let (stop, stopped) = oneshot::channel::<()>();
    let server = tokio::spawn(app.run_until(async move {
        let _ = stopped.await;
    }));
    TestApp {
        api: Api::new(addr),
        data_dir: Some(data_dir),
        shutdown: Some(stop),
        server: Some(server),
    }
}

impl TestApp {
    /// The application's data directory (its embedded store), for CLI commands run beside it.
    pub fn data_path(&self) -> &Path {
        self.data_dir.as_ref().expect("data directory").path()
    }

    /// Triggers a graceful shutdown, waits for the server (and its click writer) to finish,
    /// and hands back the data directory so a new app can be started on it.
    pub async fn stop(mut self) -> TempDir {
        if let Some(stop) = self.shutdown.take() {
            let _ = stop.send(());
        }
        if let Some(server) = self.server.take() {
            tokio::time::timeout(Duration::from_secs(60), server)
                .await
                .expect("the server stopped within 60 s")
                .expect("the server task did not panic")
                .expect("the server stopped without an error");
        }
        self.data_dir.take().expect("data directory")
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        if let Some(stop) = self.shutdown.take() {
            let _ = stop.send(());
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The real binary
// ---------------------------------------------------------------------------------------------

/// `kurz` with a clean environment: no database or Redis variables (so the embedded store in
/// `data_dir` is used and nothing off-machine is contacted), no inherited `KURZ_*` settings.
pub fn kurz_command(data_dir: &Path) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_kurz"));
    for (name, _) in std::env::vars_os() {
        let name_text = name.to_string_lossy();
        if name_text.starts_with("DATABASE_")
            || name_text.starts_with("KURZ_")
            || name_text == "RUST_LOG"
            || name_text == "REDIS_URL"
        {
            command.env_remove(&name);
        }
    }
    command
        .env("KURZ_DATA_DIR", data_dir)
        .env("KURZ_LOG", "warn")
        .env("KURZ_LOG_FORMAT", "json")
        .stdin(Stdio::null());
    command
}

/// A free loopback port (bound, then released for the child to take).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("finding a free port")
        .port()
}

/// A `kurz serve` child process. Killed and reaped when dropped.
pub struct KurzProcess {
    pub api: Api,
    pub child: Child,
    pub log: PathBuf,
}

impl Deref for KurzProcess {
    type Target = Api;
    fn deref(&self) -> &Api {
        &self.api
    }
}

/// Starts `kurz serve --listen 127.0.0.1:PORT` on `data_dir` and waits until `/health` answers.
/// `logs` is a directory for the child's output (kept apart from the data directory).
pub async fn spawn_kurz(data_dir: &Path, logs: &Path) -> KurzProcess {
    spawn_kurz_with(data_dir, logs, &[]).await
}

/// [`spawn_kurz`] with extra environment variables.
pub async fn spawn_kurz_with(data_dir: &Path, logs: &Path, env: &[(&str, &str)]) -> KurzProcess {
    let mut last_log = String::new();
    for attempt in 0..5 {
        let port = free_port();
        let log = logs.join(format!("kurz-serve-{port}-{attempt}.log"));
        let out = std::fs::File::create(&log).expect("creating the child's log file");
        let err = out.try_clone().expect("cloning the log file handle");
        let child = kurz_command(data_dir)
            .envs(env.iter().copied())
            .args(["serve", "--listen", &format!("127.0.0.1:{port}")])
            .stdout(out)
            .stderr(err)
            .spawn()
            .expect("starting kurz serve");
        let mut process = KurzProcess {
            api: Api::new(SocketAddr::from(([127, 0, 0, 1], port))),
            child,
            log,
        };
        if process.wait_until_healthy(Duration::from_secs(60)).await {
            return process;
        }
        last_log = process.read_log();
        // Most likely someone else took the port between our probe and the child's bind.
    }
    panic!("kurz serve did not come up; last log:\n{last_log}");
}

impl KurzProcess {
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn read_log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Polls `/health` until it answers 200; `false` if the child exits or time runs out.
    async fn wait_until_healthy(&mut self, limit: Duration) -> bool {
        let started = Instant::now();
        while started.elapsed() < limit {
            if matches!(self.child.try_wait(), Ok(Some(_))) {
                return false;
            }
            let probe = self
                .client
                .get(self.url("/health"))
                .timeout(Duration::from_secs(2))
                .send()
                .await;
            if probe.is_ok_and(|r| r.status() == StatusCode::OK) {
                return true;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        false
    }

    /// Sends SIGTERM, as an orchestrator stopping the container would.
    pub fn sigterm(&self) {
        let status = Command::new("kill")
            .args(["-TERM", &self.pid().to_string()])
            .status()
            .expect("running kill");
        assert!(status.success(), "kill -TERM failed: {status}");
    }

    /// Waits for the child to exit (at most `limit`).
    pub async fn wait_exit(&mut self, limit: Duration) -> ExitStatus {
        let started = Instant::now();
        loop {
            if let Some(status) = self.child.try_wait().expect("polling the child") {
                return status;
            }
            assert!(
                started.elapsed() < limit,
                "kurz did not exit within {limit:?}; log:\n{}",
                self.read_log()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

impl Drop for KurzProcess {
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            let _ = self.child.kill();
        }
        let _ = self.child.wait();
    }
}
