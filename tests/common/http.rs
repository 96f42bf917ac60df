//! The one HTTP client side of the tests: [`Api`] for any running kurz (in process, a child,
//! nginx in front of replicas) and [`Reply`], an answer read to the end, with its assertions.
//! Clients never follow redirects (the targets are off-machine) and never use a proxy.

use super::shapes::{
    assert_error_body, assert_event, assert_ordered_by_id, assert_url, assert_user, str_of,
};
use super::wait::eventually;
use reqwest::header::{CONTENT_TYPE, HeaderMap};
use reqwest::{Client, Method, RequestBuilder, StatusCode};
use serde_json::{Value, json};
use std::net::SocketAddr;
use std::time::Duration;

/// The settings every client of the tests shares; callers may add their own.
pub fn client_builder() -> reqwest::ClientBuilder {
    Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .no_proxy()
        .timeout(Duration::from_secs(60))
}

pub fn client() -> Client {
    client_builder().build().expect("building the HTTP client")
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
    pub fn code(&self) -> u16 {
        self.status.as_u16()
    }

    pub fn header(&self, name: &str) -> Option<String> {
        self.headers
            .get(name)
            .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
    }

    /// `Location`, as the redirects give it.
    pub fn location(&self) -> Option<String> {
        self.header("location")
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

    /// Asserts the status and, for a 4xx or 5xx, the contract's error body.
    pub fn expect_answer(&self, status: u16) {
        if status >= 400 {
            self.expect_error(status);
        } else {
            self.check_status(status);
        }
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

    /// [`Reply::expect_error`], naming `what` was asked when the status differs.
    pub fn expect_error_of(&self, status: u16, what: &str) -> Value {
        assert_eq!(self.code(), status, "{what}: {}", self.body);
        self.expect_error(status)
    }

    /// [`Reply::expect_invalid`], naming `what` was asked when the status differs.
    pub fn expect_invalid_of(&self, field: &str, what: &str) -> Value {
        assert_eq!(self.code(), 422, "{what}: {}", self.body);
        self.expect_invalid(field)
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

// ---------------------------------------------------------------------------------------------
// Requests
// ---------------------------------------------------------------------------------------------

/// A client for one running kurz (or nginx in front of several).
#[derive(Clone, Debug)]
pub struct Api {
    /// `http://127.0.0.1:PORT`
    pub address: String,
    pub client: Client,
}

impl Api {
    pub fn new(addr: SocketAddr) -> Self {
        Self::at(&format!("http://{addr}"))
    }

    /// A client for `http://host:port`.
    pub fn at(address: &str) -> Self {
        Self {
            address: address.to_owned(),
            client: client(),
        }
    }

    /// kurz (or nginx) on loopback `port`.
    pub fn on_port(port: u16) -> Self {
        Self::new(SocketAddr::from(([127, 0, 0, 1], port)))
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

    /// Sends every JSON body of `cases` with `method` to `path`: each must be refused with a
    /// 422 whose details name the case's field.
    pub async fn assert_invalid(&self, method: Method, path: &str, cases: &[(Value, &str)]) {
        for (body, field) in cases {
            let text = body.to_string();
            self.send(self.request(method.clone(), path).json(body))
                .await
                .expect_invalid_of(field, &format!("{method} {path} {:.120}", text));
        }
    }

    /// Sends every `(body, content type)` of `bodies` to every `(method, path)` of `targets`:
    /// each must be refused with a 400 error answer.
    pub async fn assert_bodies_refused(
        &self,
        targets: &[(Method, &str)],
        bodies: &[(&str, Option<&str>)],
    ) {
        for (body, content_type) in bodies {
            for (method, path) in targets {
                self.raw(method.clone(), path, body.to_string(), *content_type)
                    .await
                    .expect_error_of(400, &format!("{method} {body:?} as {content_type:?}"));
            }
        }
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

    /// A url with the custom code `code` for `original_url`.
    pub async fn shorten_as(&self, code: &str, original_url: &str) -> Value {
        self.create_url(&json!({ "original_url": original_url, "short_code": code }))
            .await
    }

    /// A url owned by `user_id`.
    pub async fn shorten_for(&self, user_id: i64, original_url: &str) -> Value {
        self.create_url(&json!({ "original_url": original_url, "user_id": user_id }))
            .await
    }

    /// `GET /{code}`: the status and `Location` of a redirect.
    pub async fn follow(&self, code: &str) -> (u16, Option<String>) {
        let reply = self.get(&format!("/{code}")).await;
        (reply.code(), reply.location())
    }

    /// A new url for `target`, followed `each` times by each of `tasks` tasks at once.
    pub async fn shorten_and_follow(&self, target: &str, tasks: usize, each: usize) -> Value {
        let url = self.shorten(target).await;
        self.follow_concurrently(str_of(&url, "short_code"), tasks, each)
            .await;
        url
    }

    /// `tasks` tasks at once, each following `code` `each` times; every answer must be a 302.
    pub async fn follow_concurrently(&self, code: &str, tasks: usize, each: usize) {
        let tasks: Vec<_> = (0..tasks)
            .map(|_| {
                let (api, path) = (self.clone(), format!("/{code}"));
                tokio::spawn(async move {
                    for _ in 0..each {
                        api.get(&path).await.check_status(302);
                    }
                })
            })
            .collect();
        for task in tasks {
            task.await.expect("a redirecting task");
        }
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

    /// Click events stored for `url_id`, read until they reach `expected` or stop changing
    /// for two seconds (`GET /events` flushes only the click queue of the replica that
    /// answers it; the others write theirs within milliseconds).
    pub async fn clicks_stored(&self, url_id: i64, expected: u64) -> u64 {
        let path = format!("/events?event_type=click&url_id={url_id}");
        let start = std::time::Instant::now();
        let mut last = (u64::MAX, std::time::Instant::now());
        loop {
            let stored = self.count(&path).await as u64;
            if stored >= expected || start.elapsed() > Duration::from_secs(30) {
                return stored;
            }
            if stored != last.0 {
                last = (stored, std::time::Instant::now());
            } else if last.1.elapsed() > Duration::from_secs(2) {
                return stored;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
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

    // --- operations ------------------------------------------------------------------------

    /// The `/metrics` page.
    pub async fn metrics(&self) -> String {
        self.get("/metrics").await.expect(200).body
    }

    /// The sum of every series of `name` on the `/metrics` page (0 when absent).
    pub async fn metric(&self, name: &str) -> f64 {
        metric_sum(&self.metrics().await, name, &[])
    }

    /// Waits until the metric `name` reaches `at_least`.
    pub async fn wait_for_metric(&self, name: &str, at_least: f64, limit: Duration) {
        eventually(
            &format!("{name} of {} reaching {at_least}", self.address),
            limit,
            || async {
                let value = self.metric(name).await;
                if value >= at_least {
                    Ok(())
                } else {
                    Err(value.to_string())
                }
            },
        )
        .await;
    }

    /// Visits that missed the in-process cache (L1) so far.
    pub async fn l1_misses(&self) -> f64 {
        metric_sum(
            &self.metrics().await,
            "kurz_cache_requests_total",
            &["tier=\"l1\"", "result=\"miss\""],
        )
    }

    /// After `code` was changed behind kurz's back to lead to `target`: visited every 50 ms
    /// (in tests that set `KURZ_L1_TTL_SECS=6`, a link is due for a refresh in its last
    /// 0.75 s in L1), it comes to lead there within 20 s and keeps doing so for a second more,
    /// past the lifetime of the fill before the change; no visit since `missed_before`
    /// missed L1, and a background refresh did the work.
    pub async fn assert_refreshed_within_l1(&self, code: &str, target: &str, missed_before: f64) {
        eventually("the new target served", Duration::from_secs(20), || async {
            match self.follow(code).await {
                (302, Some(served)) if served == target => Ok(()),
                other => Err(format!("{other:?}")),
            }
        })
        .await;
        for _ in 0..20 {
            assert_eq!(self.follow(code).await.1.as_deref(), Some(target));
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        assert_eq!(
            self.l1_misses().await,
            missed_before,
            "every visit was answered from L1"
        );
        let refreshed = metric_sum(
            &self.metrics().await,
            "kurz_cache_refreshes_total",
            &["result=\"ok\""],
        );
        assert!(refreshed >= 1.0, "refreshes done: {refreshed}");
    }

    /// Waits until `/ready` answers with `field` reading `want` (`cache` `ok`, say).
    pub async fn wait_for_ready_field(&self, field: &str, want: &str, limit: Duration) {
        eventually(
            &format!("{}/ready: {field} = {want}", self.address),
            limit,
            || async {
                let body = match self.request(Method::GET, "/ready").send().await {
                    Ok(response) => response.json::<Value>().await.unwrap_or(Value::Null),
                    Err(e) => Value::String(e.to_string()),
                };
                if body[field] == want {
                    Ok(())
                } else {
                    Err(body.to_string())
                }
            },
        )
        .await;
    }

    /// Waits until `/ready` answers `status`.
    pub async fn wait_for_ready_status(&self, status: u16, limit: Duration) {
        eventually(
            &format!("{}/ready answering {status}", self.address),
            limit,
            || async {
                let answered = self
                    .request(Method::GET, "/ready")
                    .send()
                    .await
                    .map(|r| r.status().as_u16());
                if answered.as_ref().ok() == Some(&status) {
                    Ok(())
                } else {
                    Err(format!("{answered:?}"))
                }
            },
        )
        .await;
    }
}

impl AsRef<Api> for Api {
    fn as_ref(&self) -> &Api {
        self
    }
}

/// Waits until every one of `replicas` answers `/ready` with `field` reading `want`.
pub async fn wait_for_all(replicas: &[impl AsRef<Api>], field: &str, want: &str, limit: Duration) {
    for replica in replicas {
        replica
            .as_ref()
            .wait_for_ready_field(field, want, limit)
            .await;
    }
}

/// The sum of the samples of `metric` (only lines containing every one of `labels`) in a
/// Prometheus text page.
pub fn metric_sum(page: &str, metric: &str, labels: &[&str]) -> f64 {
    page.lines()
        .filter(|l| !l.starts_with('#'))
        .filter(|l| {
            l.strip_prefix(metric)
                .is_some_and(|rest| rest.starts_with('{') || rest.starts_with(' '))
        })
        .filter(|l| labels.iter().all(|label| l.contains(label)))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}
