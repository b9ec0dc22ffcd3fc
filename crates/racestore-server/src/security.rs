//! The checks every request passes before its handler: the `Host`, the bearer token, read-only
//! mode and the content type of writes.

use axum::extract::{Request, State};
use axum::http::{header, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use subtle::ConstantTimeEq;

use crate::error::ApiError;
use crate::AppState;

/// Refuses what the options do not allow; lets the rest through.
pub(crate) async fn guard(State(state): State<AppState>, request: Request, next: Next) -> Response {
    match check(&state, &request) {
        Ok(()) => next.run(request).await,
        Err(err) => err.into_response(),
    }
}

fn check(state: &AppState, request: &Request) -> Result<(), ApiError> {
    let options = &state.options;
    if let Some(listen) = options.listen {
        let host = request
            .headers()
            .get(header::HOST)
            .and_then(|h| h.to_str().ok())
            .unwrap_or("");
        if !host_allowed(host, listen, &options.allow_hosts) {
            return Err(ApiError::new(
                StatusCode::FORBIDDEN,
                "forbidden",
                format!(
                    "Host {host:?} is not this server's address ({listen}); start the server with --allow-host NAME to accept it"
                ),
            ));
        }
    }
    let path = request.uri().path();
    let write = !matches!(*request.method(), Method::GET | Method::HEAD | Method::OPTIONS);
    // The page and its assets hold no data; /healthz says only whether the store answers.
    let open_path = !path.starts_with("/api/") || path == "/api/v1/openapi.json";
    if let Some(token) = &options.token {
        let needs_token = write || (!options.public_read && !open_path);
        if needs_token && !bearer_matches(request, token) {
            let mut response = ApiError::new(
                StatusCode::UNAUTHORIZED,
                "unauthorized",
                "this request needs the server's token: send the header Authorization: Bearer TOKEN",
            );
            response.body.field = Some("Authorization".to_owned());
            return Err(response);
        }
    }
    if write {
        if options.read_only {
            return Err(ApiError::new(
                StatusCode::FORBIDDEN,
                "read_only",
                "the server was started with --read-only: it stores nothing",
            ));
        }
        let json = request
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(';').next())
            .is_some_and(|v| v.trim().eq_ignore_ascii_case("application/json"));
        if !json {
            let mut err = ApiError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported_media_type",
                "writes take a JSON body: send the header Content-Type: application/json",
            );
            err.body.field = Some("Content-Type".to_owned());
            return Err(err);
        }
    }
    Ok(())
}

/// Whether the request carries `Authorization: Bearer TOKEN`, compared in constant time.
fn bearer_matches(request: &Request, token: &str) -> bool {
    let Some(given) = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
    else {
        return false;
    };
    given.as_bytes().ct_eq(token.as_bytes()).into()
}

/// Whether a `Host` header names this server: its address, `localhost` on a loopback address,
/// or a name given with `--allow-host` (with or without a port).
fn host_allowed(host: &str, listen: std::net::SocketAddr, allowed: &[String]) -> bool {
    let host = host.to_ascii_lowercase();
    let port = listen.port().to_string();
    let (name, host_port) = match host.rsplit_once(':') {
        Some((name, p)) if !name.ends_with(':') && !p.contains(']') => (name.to_owned(), Some(p.to_owned())),
        _ => (host.clone(), None),
    };
    if allowed
        .iter()
        .any(|a| a.eq_ignore_ascii_case(&host) || a.eq_ignore_ascii_case(&name))
    {
        return true;
    }
    if host_port.as_deref() != Some(port.as_str()) {
        return false;
    }
    let ip = match listen.ip() {
        std::net::IpAddr::V6(v6) => format!("[{v6}]"),
        v4 @ std::net::IpAddr::V4(_) => v4.to_string(),
    };
    name == ip || (listen.ip().is_loopback() && matches!(name.as_str(), "localhost" | "127.0.0.1" | "[::1]"))
}

#[cfg(test)]
mod tests {
    use super::host_allowed;

    #[test]
    fn only_this_servers_address_and_allowed_names_pass_the_host_check() {
        let listen = "127.0.0.1:8080".parse().unwrap();
        assert!(host_allowed("127.0.0.1:8080", listen, &[]));
        assert!(host_allowed("localhost:8080", listen, &[]));
        assert!(!host_allowed("localhost:9090", listen, &[]));
        assert!(!host_allowed("evil.example:8080", listen, &[]));
        assert!(!host_allowed("", listen, &[]));
        assert!(host_allowed(
            "pits.example:443",
            listen,
            &["pits.example".to_owned()]
        ));
        let public = "0.0.0.0:80".parse().unwrap();
        assert!(!host_allowed("localhost:80", public, &[]));
    }
}
