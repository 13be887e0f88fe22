//! CSRF protection for the dashboard: a double-submit token. Each browser gets a random token in
//! an `HttpOnly` cookie; every form carries the same token in a hidden `csrf` field (or the
//! `X-CSRF-Token` header, or a `csrf` query parameter for file uploads). Any state-changing
//! request to a page route whose token is missing or different is refused with 403 before a
//! handler runs, so no form can forget the check.

use crate::auth::cookie;
use axum::body::{Body, to_bytes};
use axum::extract::Request;
use axum::http::header::{CONTENT_TYPE, SET_COOKIE};
use axum::http::{HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::Response;
use leadline_app::tokens;

pub const CSRF_COOKIE: &str = "ll_csrf";
const MAX_FORM_BYTES: usize = 16 * 1024 * 1024;

/// The current browser's token, for templates.
#[derive(Debug, Clone)]
pub struct CsrfToken(pub String);

fn form_field(body: &[u8], name: &str) -> Option<String> {
    url::form_urlencoded::parse(body)
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
}

pub async fn protect(req: Request, next: Next) -> Response {
    let (mut parts, body) = req.into_parts();
    let existing = cookie(&parts, CSRF_COOKIE)
        .filter(|t| t.len() == 43)
        .map(str::to_owned);
    let unsafe_method = !matches!(parts.method, Method::GET | Method::HEAD | Method::OPTIONS);

    let body = if unsafe_method {
        let Ok(bytes) = to_bytes(body, MAX_FORM_BYTES).await else {
            return crate::pages::error_page(crate::AppError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "too_large",
                "That upload is too large (16 MB at most).",
            ));
        };
        let is_form = parts
            .headers
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with("application/x-www-form-urlencoded"));
        let sent = parts
            .headers
            .get("x-csrf-token")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
            .or_else(|| {
                if is_form {
                    form_field(&bytes, "csrf")
                } else {
                    None
                }
            })
            .or_else(|| {
                parts
                    .uri
                    .query()
                    .and_then(|q| form_field(q.as_bytes(), "csrf"))
            });
        let valid = match (&existing, &sent) {
            (Some(c), Some(s)) => tokens::constant_time_eq(c.as_bytes(), s.as_bytes()),
            _ => false,
        };
        if !valid {
            tracing::warn!(path = %parts.uri.path(), "refused a form without a valid CSRF token");
            return crate::pages::error_page(crate::AppError::forbidden(
                "This form has expired or did not come from this site. Go back, reload the page and try again.",
            ));
        }
        Body::from(bytes)
    } else {
        body
    };

    let (token, fresh) = match existing {
        Some(t) => (t, false),
        None => (tokens::generate(), true),
    };
    parts.extensions.insert(CsrfToken(token.clone()));
    let mut response = next.run(Request::from_parts(parts, body)).await;
    if fresh {
        // Secure is added by the session cookie path when served over https; the CSRF token is
        // useless to a network attacker without the matching form, so SameSite+HttpOnly suffice.
        let value = format!("{CSRF_COOKIE}={token}; Path=/; HttpOnly; SameSite=Lax");
        if let Ok(v) = HeaderValue::from_str(&value) {
            response.headers_mut().append(SET_COOKIE, v);
        }
    }
    response
}
