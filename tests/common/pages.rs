//! A person at the web UI without a browser: pages fetched with the cookies they set
//! (the CSRF token, a sign-in session) sent back, and forms posted with their token, so the
//! pages' behaviour is tested fast and exactly; `tests/browser` drives a real one.

use super::http::{Api, Reply};
use std::collections::BTreeMap;

/// One visitor's cookie jar on one kurz.
pub struct Visitor<'a> {
    pub api: &'a Api,
    cookies: BTreeMap<String, String>,
}

impl<'a> Visitor<'a> {
    pub fn new(api: &'a Api) -> Self {
        Self {
            api,
            cookies: BTreeMap::new(),
        }
    }

    fn cookie_header(&self) -> String {
        self.cookies
            .iter()
            .map(|(name, value)| format!("{name}={value}"))
            .collect::<Vec<_>>()
            .join("; ")
    }

    fn keep(&mut self, reply: &Reply) {
        for value in reply.headers.get_all("set-cookie") {
            let text = value.to_str().unwrap_or_default();
            let pair = text.split(';').next().unwrap_or_default();
            if let Some((name, value)) = pair.split_once('=') {
                if value.is_empty() || text.contains("Max-Age=0") {
                    self.cookies.remove(name);
                } else {
                    self.cookies.insert(name.to_owned(), value.to_owned());
                }
            }
        }
    }

    pub fn cookie(&self, name: &str) -> Option<&str> {
        self.cookies.get(name).map(String::as_str)
    }

    /// `GET path` as a browser asks for it.
    pub async fn get(&mut self, path: &str) -> Reply {
        let request = self
            .api
            .request(reqwest::Method::GET, path)
            .header("Accept", "text/html")
            .header("Cookie", self.cookie_header());
        let reply = self.api.send(request).await;
        self.keep(&reply);
        reply
    }

    /// Posts `fields` to `path` with this visitor's CSRF token (fetching a page first when
    /// it has none yet).
    pub async fn post(&mut self, path: &str, fields: &[(&str, &str)]) -> Reply {
        if self.cookie("kurz_csrf").is_none() {
            self.get("/favicon.svg").await;
            self.get("/links").await;
        }
        let token = self.cookie("kurz_csrf").unwrap_or_default().to_owned();
        let mut all = vec![("csrf", token.as_str())];
        all.extend_from_slice(fields);
        self.post_raw(path, &all).await
    }

    /// Posts exactly `fields` (no token added).
    pub async fn post_raw(&mut self, path: &str, fields: &[(&str, &str)]) -> Reply {
        let body: String = url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs(fields)
            .finish();
        let request = self
            .api
            .request(reqwest::Method::POST, path)
            .header("Accept", "text/html")
            .header("Content-Type", "application/x-www-form-urlencoded")
            .header("Cookie", self.cookie_header())
            .body(body);
        let reply = self.api.send(request).await;
        self.keep(&reply);
        reply
    }
}

/// The text of the element with `id="…"` in a page, tags stripped (enough for the pages'
/// own simple markup).
pub fn text_of_id(html: &str, id: &str) -> Option<String> {
    let start = html.find(&format!("id=\"{id}\""))?;
    let open_end = start + html[start..].find('>')? + 1;
    let close = open_end + html[open_end..].find("</")?;
    Some(html[open_end..close].trim().to_owned())
}
