//! The per-client write limits (`crate::limits`) as a layer of the API: creates (POST) and
//! changes (PUT, PATCH, DELETE) are counted per API key, else per client address; reads and
//! redirects are not limited (they are cheap and cached).

use super::AppState;
use super::auth::Caller;
use super::client_ip::ClientIp;
use super::error::ApiError;
use crate::limits::WriteKind;
use axum::extract::{Request, State};
use axum::http::Method;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use std::net::IpAddr;

/// The allowance a request draws on, if any.
fn write_kind(method: &Method) -> Option<WriteKind> {
    match *method {
        Method::POST => Some(WriteKind::Create),
        Method::PUT | Method::PATCH | Method::DELETE => Some(WriteKind::Change),
        _ => None,
    }
}

/// Whom a limit counts: the API key, else the client's address (an IPv6 client by its /64,
/// the block one subscriber usually holds, so hopping addresses inside it does not help).
pub(crate) fn client_of(caller: Option<&Caller>, ip: Option<IpAddr>) -> String {
    if let Some(id) = caller.and_then(Caller::key_id) {
        return format!("key:{id}");
    }
    match ip {
        Some(IpAddr::V6(v6)) if v6.to_ipv4_mapped().is_none() => {
            let net = u128::from(v6) & !((1u128 << 64) - 1);
            format!("net:{}", std::net::Ipv6Addr::from(net))
        }
        Some(IpAddr::V6(v6)) => format!("ip:{}", v6.to_canonical()),
        Some(ip) => format!("ip:{ip}"),
        None => "ip:unknown".to_owned(),
    }
}

/// Answers 429 with `Retry-After` when the client is over its allowance.
pub async fn limit(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let Some(kind) = write_kind(request.method()) else {
        return next.run(request).await;
    };
    let ClientIp(ip) = ClientIp::of(&state.proxies, (request.extensions(), request.headers()));
    if let Err(refused) = check(&state, kind, request.extensions().get::<Caller>(), ip).await {
        return refused.into_response();
    }
    next.run(request).await
}

/// Counts one write of `kind` by this caller (or address); 429 when it is over its
/// allowance. The web UI's forms draw on the same allowances as the API.
pub(crate) async fn check(
    state: &AppState,
    kind: WriteKind,
    caller: Option<&Caller>,
    ip: Option<IpAddr>,
) -> Result<(), ApiError> {
    let client = client_of(caller, ip);
    if let Err(retry_after) = state.rate_limits.check(kind, &client).await {
        metrics::counter!("kurz_rate_limited_total", "kind" => kind.label()).increment(1);
        tracing::info!(client = %client, kind = kind.label(), "rate limited");
        return Err(ApiError::TooManyRequests { retry_after });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ipv6_clients_are_counted_by_their_64_block() {
        let a = client_of(None, "2001:db8:1:2:aaaa::1".parse().ok());
        let b = client_of(None, "2001:db8:1:2:bbbb::9".parse().ok());
        let c = client_of(None, "2001:db8:1:3::1".parse().ok());
        assert_eq!(a, b);
        assert_ne!(a, c);
        assert_eq!(client_of(None, "10.0.0.1".parse().ok()), "ip:10.0.0.1");
        assert_eq!(
            client_of(None, "::ffff:10.0.0.1".parse().ok()),
            "ip:10.0.0.1"
        );
    }
}
