//! Extractors that turn requests into checked input, producing the contract's errors:
//! 400 for a body that is not a JSON object sent as JSON, 413 for an oversized body,
//! 422 (with per-field `details`) for list parameters that are invalid. Body fields are
//! checked by the handlers with [`super::input::Checks`].

use super::error::ApiError;
use crate::config::MAX_JSON_BYTES;
use crate::store::Page;
use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Query, Request};
use axum::http::{HeaderMap, StatusCode, header};
use serde_json::{Map, Value};
use std::collections::HashMap;

/// `per_page` bounds and the default when only `page` is given.
pub const MAX_PER_PAGE: i64 = 100;
pub const DEFAULT_PER_PAGE: i64 = 20;

/// A request body that is a JSON object.
pub struct JsonObject(pub Map<String, Value>);

fn is_json(headers: &HeaderMap) -> bool {
    let Some(content_type) = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
    else {
        return false;
    };
    let mime = content_type
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    mime == "application/json" || (mime.starts_with("application/") && mime.ends_with("+json"))
}

async fn body_bytes<S: Send + Sync>(req: Request, state: &S) -> Result<Bytes, ApiError> {
    if let Some(length) = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        && length.parse::<usize>().is_ok_and(|n| n > MAX_JSON_BYTES)
    {
        return Err(ApiError::PayloadTooLarge);
    }
    Bytes::from_request(req, state).await.map_err(|rejection| {
        if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::PayloadTooLarge
        } else {
            ApiError::BadRequest("could not read the request body".into())
        }
    })
}

fn parse_object(bytes: &[u8]) -> Result<Map<String, Value>, ApiError> {
    match serde_json::from_slice::<Value>(bytes) {
        Ok(Value::Object(map)) => Ok(map),
        Ok(_) => Err(ApiError::BadRequest(
            "request body must be a JSON object".into(),
        )),
        Err(_) => Err(ApiError::BadRequest(
            "request body is not valid JSON".into(),
        )),
    }
}

impl<S: Send + Sync> FromRequest<S> for JsonObject {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        if !is_json(req.headers()) {
            return Err(ApiError::BadRequest(
                "expected a JSON body with Content-Type: application/json".into(),
            ));
        }
        let bytes = body_bytes(req, state).await?;
        parse_object(&bytes).map(JsonObject)
    }
}

/// A request body that is a JSON object, read into `T` (whose fields are
/// [`super::input::Input`]s, so reading never fails on a field).
pub struct Body<T>(pub T);

impl<S: Send + Sync, T: serde::de::DeserializeOwned> FromRequest<S> for Body<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let JsonObject(map) = JsonObject::from_request(req, state).await?;
        into_body(map).map(Self)
    }
}

fn into_body<T: serde::de::DeserializeOwned>(map: Map<String, Value>) -> Result<T, ApiError> {
    serde_json::from_value(Value::Object(map))
        .map_err(|_| ApiError::BadRequest("request body must be a JSON object".into()))
}

/// A request body that is empty (or only whitespace) or a JSON object sent as JSON, read
/// into `T`, for endpoints whose body is optional.
pub struct OptionalBody<T>(pub Option<T>);

impl<S: Send + Sync, T: serde::de::DeserializeOwned> FromRequest<S> for OptionalBody<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let json = is_json(req.headers());
        let bytes = body_bytes(req, state).await?;
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Ok(Self(None));
        }
        if !json {
            return Err(ApiError::BadRequest(
                "expected a JSON body with Content-Type: application/json".into(),
            ));
        }
        into_body(parse_object(&bytes)?).map(|body| Self(Some(body)))
    }
}

/// The host (and port) the client addressed: the `Host` header, or the URI's authority
/// (HTTP/2). `None` when neither is there, or when what is there is no host and port (the
/// header is the client's to fill: kurz puts it in the links it shows and in QR codes, and
/// a QR code holds at most about two thousand characters).
pub struct RequestHost(pub Option<String>);

/// The longest host and port: a DNS name of 253 characters (or a bracketed IPv6 address),
/// a colon and five digits.
const MAX_HOST: usize = 253 + 6;

impl<S: Send + Sync> FromRequestParts<S> for RequestHost {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        _state: &S,
    ) -> Result<Self, Self::Rejection> {
        let host = parts
            .headers
            .get(header::HOST)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
            .or_else(|| parts.uri.authority().map(|a| a.as_str().to_owned()))
            .filter(|host| host.len() <= MAX_HOST && plain_authority(host));
        Ok(Self(host))
    }
}

/// `host` is a host and maybe a port, nothing more (no user, no path).
fn plain_authority(host: &str) -> bool {
    host.parse::<axum::http::uri::Authority>()
        .is_ok_and(|authority| !host.contains('@') && authority.as_str() == host)
}

/// Filters and pagination of a list request, from the query string and, for clients that
/// send them that way, a JSON body on the GET (query string wins).
pub struct ListParams {
    params: HashMap<String, String>,
}

impl<S: Send + Sync> FromRequest<S> for ListParams {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let (mut parts, body) = req.into_parts();
        let Query(mut params) =
            Query::<HashMap<String, String>>::from_request_parts(&mut parts, state)
                .await
                .map_err(|_| ApiError::BadRequest("malformed query string".into()))?;
        if is_json(&parts.headers) {
            let bytes = body_bytes(Request::from_parts(parts, body), state).await?;
            if !bytes.iter().all(u8::is_ascii_whitespace) {
                for (key, value) in parse_object(&bytes)? {
                    let text = match value {
                        Value::Null => continue,
                        Value::String(s) => s,
                        other => other.to_string(),
                    };
                    params.entry(key).or_insert(text);
                }
            }
        }
        Ok(Self { params })
    }
}

impl ListParams {
    fn get(&self, key: &str) -> Option<&str> {
        self.params
            .get(key)
            .map(|v| v.trim())
            .filter(|v| !v.is_empty())
    }

    /// A text filter.
    pub fn text(&self, key: &str) -> Option<String> {
        self.get(key).map(str::to_owned)
    }

    /// An integer filter; anything else is a 422.
    pub fn int(&self, key: &str) -> Result<Option<i64>, ApiError> {
        self.get(key)
            .map(|raw| {
                raw.parse::<i64>()
                    .map_err(|_| ApiError::invalid(key, "must be an integer"))
            })
            .transpose()
    }

    /// A boolean filter: true/false, 1/0, yes/no in any case; anything else is a 422.
    pub fn boolean(&self, key: &str) -> Result<Option<bool>, ApiError> {
        self.get(key)
            .map(|raw| match raw.to_ascii_lowercase().as_str() {
                "true" | "1" | "yes" => Ok(true),
                "false" | "0" | "no" => Ok(false),
                _ => Err(ApiError::invalid(key, "must be true or false")),
            })
            .transpose()
    }

    /// `page`/`per_page` → the rows to return. Without either, every row up to `cap`.
    /// Out-of-range numbers are clamped; text that is not a number is a 422.
    pub fn page(&self, cap: i64) -> Result<Page, ApiError> {
        let page = self.clamped("page")?;
        let per_page = self.clamped("per_page")?;
        if page.is_none() && per_page.is_none() {
            return Ok(Page {
                limit: cap,
                offset: 0,
            });
        }
        let per_page = per_page.unwrap_or(DEFAULT_PER_PAGE).clamp(1, MAX_PER_PAGE);
        let page = page.unwrap_or(1).max(1);
        Ok(Page {
            limit: per_page,
            offset: (page - 1).saturating_mul(per_page),
        })
    }

    /// An integer parameter; digits too long for an i64 saturate instead of failing.
    fn clamped(&self, key: &str) -> Result<Option<i64>, ApiError> {
        let Some(raw) = self.get(key) else {
            return Ok(None);
        };
        if let Ok(n) = raw.parse::<i64>() {
            return Ok(Some(n));
        }
        let digits = raw
            .strip_prefix('-')
            .or_else(|| raw.strip_prefix('+'))
            .unwrap_or(raw);
        if !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()) {
            return Ok(Some(if raw.starts_with('-') {
                i64::MIN
            } else {
                i64::MAX
            }));
        }
        Err(ApiError::invalid(key, "must be an integer"))
    }
}

/// Parses a numeric id from a path; anything else names no row, hence 404.
pub fn parse_id(raw: &str, what: &str) -> Result<i64, ApiError> {
    raw.parse::<i64>()
        .ok()
        .filter(|id| *id > 0)
        .ok_or_else(|| ApiError::not_found(what))
}

/// The row a path's id names, as JSON: 404 naming `what` when there is none, or when the
/// id is not a positive integer.
pub async fn found_by_id<T, Fut>(
    raw: &str,
    what: &str,
    find: impl FnOnce(i64) -> Fut,
) -> Result<axum::Json<T>, ApiError>
where
    Fut: std::future::Future<Output = crate::store::StoreResult<Option<T>>>,
{
    let id = parse_id(raw, what)?;
    find(id)
        .await?
        .map(axum::Json)
        .ok_or_else(|| ApiError::not_found(what))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_host_is_a_host_and_port_and_nothing_more() {
        for host in [
            "example.com",
            "localhost:5000",
            "[::1]:5000",
            "127.0.0.1",
            "xn--bcher-kva.ch",
        ] {
            assert!(plain_authority(host), "{host}");
        }
        for host in [
            "user@example.com",
            "example.com/path",
            "exa mple.com",
            "example.com?q",
            "",
        ] {
            assert!(!plain_authority(host), "{host}");
        }
    }

    fn params(pairs: &[(&str, &str)]) -> ListParams {
        ListParams {
            params: pairs
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
        }
    }

    #[test]
    fn no_pagination_returns_everything_up_to_the_cap() {
        assert_eq!(
            params(&[]).page(10_000).ok(),
            Some(Page {
                limit: 10_000,
                offset: 0
            })
        );
    }

    #[test]
    fn pagination_is_clamped_into_range() {
        let p = |pairs| params(pairs).page(10_000).ok();
        assert_eq!(
            p(&[("page", "0"), ("per_page", "0")]),
            Some(Page {
                limit: 1,
                offset: 0
            })
        );
        assert_eq!(
            p(&[("page", "-3"), ("per_page", "1000")]),
            Some(Page {
                limit: 100,
                offset: 0
            })
        );
        assert_eq!(
            p(&[("page", "3"), ("per_page", "10")]),
            Some(Page {
                limit: 10,
                offset: 20
            })
        );
        assert_eq!(
            p(&[("page", "2")]),
            Some(Page {
                limit: DEFAULT_PER_PAGE,
                offset: DEFAULT_PER_PAGE
            })
        );
    }

    #[test]
    fn huge_page_numbers_saturate_instead_of_overflowing() {
        let page = params(&[("page", "99999999999999999999999"), ("per_page", "100")])
            .page(10)
            .ok();
        assert_eq!(page.map(|p| p.offset), Some(i64::MAX));
    }

    #[test]
    fn text_pagination_is_a_validation_error() {
        assert!(matches!(
            params(&[("page", "abc")]).page(10),
            Err(ApiError::Validation { .. })
        ));
    }

    #[test]
    fn boolean_filters_accept_common_spellings() {
        assert_eq!(
            params(&[("is_active", "True")]).boolean("is_active").ok(),
            Some(Some(true))
        );
        assert_eq!(
            params(&[("is_active", "0")]).boolean("is_active").ok(),
            Some(Some(false))
        );
        assert!(
            params(&[("is_active", "maybe")])
                .boolean("is_active")
                .is_err()
        );
    }
}
