//! Sign in with Google: the OpenID Connect authorization-code flow with PKCE, enabled when a
//! client id and secret are configured. It signs in an existing leadline user, found by the
//! Google subject or else by verified email (which links the two); it never creates users.
//!
//! `start` puts the flow's secrets (state, nonce, PKCE verifier) and the destination in a
//! short-lived `HttpOnly` cookie bound to this browser and sends the browser to the provider.
//! `callback` checks the returned state against that cookie, redeems the code at the token
//! endpoint, and verifies the ID token (RS256 against the provider's JWKS, issuer, audience,
//! expiry, nonce) before anything else is believed. Tokens and secrets are never logged.

use crate::auth::{client_ip, cookie, set_cookie, start_session};
use crate::error::AppError;
use crate::pages::{PageResult, error_page};
use crate::state::{AppState, GoogleConfig};
use axum::extract::{ConnectInfo, Query, State};
use axum::http::StatusCode;
use axum::http::header::SET_COOKIE;
use axum::http::request::Parts;
use axum::response::{AppendHeaders, IntoResponse, Redirect, Response};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jiff::Timestamp;
use leadline_app::tokens;
use leadline_domain::Email;
use leadline_store::{NewAudit, User};
use rsa::pkcs1v15::{Signature, VerifyingKey};
use rsa::signature::Verifier;
use rsa::traits::PublicKeyParts;
use rsa::{BigUint, RsaPublicKey};
use secrecy::ExposeSecret;
use serde::Deserialize;
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, LazyLock, Mutex, PoisonError};
use tokio::sync::{OnceCell, RwLock};
use url::Url;

const FLOW_COOKIE: &str = "ll_oidc";
/// Long enough to pick an account and consent, short enough that a stale flow dies.
const FLOW_TTL_SECS: i64 = 600;
/// Clocks differ between us and the provider; allow this much either way.
const CLOCK_SKEW_SECS: i64 = 60;
/// Smaller RSA keys are not safe for signatures.
const MIN_RSA_BITS: usize = 2048;

// ---------------------------------------------------------------------------------------------
// Handlers

#[derive(Deserialize)]
pub struct StartQuery {
    next: Option<String>,
}

pub async fn start(State(state): State<AppState>, Query(q): Query<StartQuery>) -> PageResult {
    let Some(google) = state.config.google.as_ref() else {
        return Err(AppError::not_found().into());
    };
    let metadata = provider(&google.issuer)
        .metadata(&state.http)
        .await?
        .clone();
    let flow = Flow {
        state: tokens::generate(),
        nonce: tokens::generate(),
        verifier: tokens::generate(),
        next: safe_next(q.next.as_deref()).to_owned(),
    };
    let mut to = metadata.authorization_endpoint;
    to.query_pairs_mut()
        .append_pair("response_type", "code")
        .append_pair("client_id", &google.client_id)
        .append_pair("redirect_uri", &redirect_uri(&state))
        .append_pair("scope", "openid email profile")
        .append_pair("state", &flow.state)
        .append_pair("nonce", &flow.nonce)
        .append_pair("code_challenge", &pkce_challenge(&flow.verifier))
        .append_pair("code_challenge_method", "S256");
    let cookie = set_cookie(&state, FLOW_COOKIE, &flow.to_cookie(), FLOW_TTL_SECS);
    Ok(([(SET_COOKIE, cookie)], Redirect::to(to.as_str())).into_response())
}

#[derive(Deserialize)]
pub struct CallbackQuery {
    code: Option<String>,
    state: Option<String>,
    error: Option<String>,
}

pub async fn callback(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Query(q): Query<CallbackQuery>,
    parts: Parts,
) -> Response {
    let Some(google) = state.config.google.as_ref() else {
        return error_page(AppError::not_found());
    };
    // A callback that does not match this browser's flow leaves the flow alone, so a forged
    // link cannot cancel a sign-in in progress.
    let flow = match matching_flow(&parts, q.state.as_deref()) {
        Ok(flow) => flow,
        Err(e) => return error_page(e),
    };
    let ip = client_ip(&parts.headers, Some(peer), state.config.trust_proxy);
    match finish(&state, google, &flow, &q, &ip).await {
        Ok(response) => response,
        // The flow was answered; it is spent either way.
        Err(e) => ([(SET_COOKIE, clear_flow_cookie(&state))], error_page(e)).into_response(),
    }
}

/// Finds this browser's flow and checks the returned state against it.
fn matching_flow(parts: &Parts, returned_state: Option<&str>) -> Result<Flow, AppError> {
    let Some(flow) = cookie(parts, FLOW_COOKIE).and_then(Flow::from_cookie) else {
        return Err(refuse(
            StatusCode::BAD_REQUEST,
            "oidc_no_flow",
            "no sign-in flow cookie",
            "This Google sign-in expired or was started in another browser. Start again from the sign-in page.",
        ));
    };
    let matches = returned_state
        .is_some_and(|s| tokens::constant_time_eq(s.as_bytes(), flow.state.as_bytes()));
    if !matches {
        return Err(refuse(
            StatusCode::BAD_REQUEST,
            "oidc_state_mismatch",
            "state does not match the flow cookie",
            "This Google sign-in does not match the one started in this browser. Start again from the sign-in page.",
        ));
    }
    Ok(flow)
}

async fn finish(
    state: &AppState,
    google: &GoogleConfig,
    flow: &Flow,
    q: &CallbackQuery,
    ip: &str,
) -> Result<Response, AppError> {
    if let Some(error) = q.error.as_deref() {
        let message = if error == "access_denied" {
            "Google sign-in was cancelled, so you were not signed in."
        } else {
            "Google could not sign you in. Try again, or sign in with your password."
        };
        // The error code is the provider's short ASCII word; cap it anyway, it came in a URL.
        let reason: String = error.chars().take(64).collect();
        tracing::warn!(provider_error = %reason, "Google sign-in refused");
        return Err(AppError::new(
            StatusCode::BAD_REQUEST,
            "oidc_provider_error",
            message,
        ));
    }
    let Some(code) = q.code.as_deref().filter(|c| !c.is_empty()) else {
        return Err(refuse(
            StatusCode::BAD_REQUEST,
            "oidc_no_code",
            "callback without a code",
            "Google did not send a sign-in code. Start again from the sign-in page.",
        ));
    };
    let provider = provider(&google.issuer);
    let id_token = redeem_code(state, google, &provider, code, &flow.verifier).await?;
    let expected = Expected {
        issuer: &provider.metadata(&state.http).await?.issuer,
        client_id: &google.client_id,
        nonce: &flow.nonce,
        now: Timestamp::now().as_second(),
    };
    let identity = provider
        .verify(&state.http, &id_token, &expected)
        .await
        .map_err(|e| {
            refuse(
                StatusCode::UNAUTHORIZED,
                "oidc_invalid_token",
                &e.to_string(),
                "Google's answer could not be verified, so you were not signed in. Start again from the sign-in page.",
            )
        })?;
    let user = find_or_link_user(state, &identity).await?;

    let memberships = state.store.memberships_of_user(user.id).await?;
    let session = start_session(state, user.id, memberships.first().map(|m| m.account_id)).await?;
    for m in &memberships {
        state
            .store
            .append_audit(NewAudit {
                account_id: m.account_id,
                actor: format!("user:{}", user.id),
                action: "auth.sign_in".into(),
                details: serde_json::json!({ "method": "google", "ip": ip }),
            })
            .await?;
    }
    let next = safe_next(Some(&flow.next));
    Ok((
        AppendHeaders([
            (SET_COOKIE, session),
            (SET_COOKIE, clear_flow_cookie(state)),
        ]),
        Redirect::to(next),
    )
        .into_response())
}

/// The user this Google identity signs in as: the one linked to its subject, or else the one
/// with its verified email, which is then linked.
async fn find_or_link_user(state: &AppState, identity: &Identity) -> Result<User, AppError> {
    if !identity.email_verified {
        return Err(refuse(
            StatusCode::FORBIDDEN,
            "oidc_email_unverified",
            "email not verified by the provider",
            "Google says the email address of this Google account is not verified. Verify it with Google, or sign in with your password.",
        ));
    }
    if let Some(user) = state
        .store
        .find_user_by_google_subject(&identity.subject)
        .await?
    {
        return Ok(user);
    }
    let no_user = || {
        refuse(
            StatusCode::FORBIDDEN,
            "oidc_no_user",
            "no user with the Google account's email",
            "No leadline user has the email address of this Google account. Sign up first (or ask for an invitation), then sign in with Google.",
        )
    };
    let Some(email) = identity.email.as_deref().and_then(|e| Email::parse(e).ok()) else {
        return Err(no_user());
    };
    let Some(user) = state.store.find_user_by_email(&email).await? else {
        return Err(no_user());
    };
    if user.google_subject.is_some() {
        return Err(refuse(
            StatusCode::FORBIDDEN,
            "oidc_linked_elsewhere",
            "user is linked to a different Google subject",
            "This leadline user is already linked to a different Google account. Sign in with that one, or with your password.",
        ));
    }
    state
        .store
        .set_google_subject(user.id, &identity.subject)
        .await?;
    for m in state.store.memberships_of_user(user.id).await? {
        state
            .store
            .append_audit(NewAudit {
                account_id: m.account_id,
                actor: format!("user:{}", user.id),
                action: "auth.google_linked".into(),
                details: serde_json::json!({ "email": email.as_str() }),
            })
            .await?;
    }
    Ok(User {
        google_subject: Some(identity.subject.clone()),
        ..user
    })
}

/// Exchanges the authorization code (with the PKCE verifier) for an ID token.
async fn redeem_code(
    state: &AppState,
    google: &GoogleConfig,
    provider: &Provider,
    code: &str,
    verifier: &str,
) -> Result<String, AppError> {
    let metadata = provider.metadata(&state.http).await?;
    let redirect_uri = redirect_uri(state);
    let form = [
        ("grant_type", "authorization_code"),
        ("code", code),
        ("redirect_uri", &redirect_uri),
        ("client_id", &google.client_id),
        ("client_secret", google.client_secret.expose_secret()),
        ("code_verifier", verifier),
    ];
    let response = state
        .http
        .post(metadata.token_endpoint.clone())
        .form(&form)
        .send()
        .await
        .map_err(|e| unreachable_provider("token endpoint", &e))?;
    let status = response.status();
    if !status.is_success() {
        // Only the OAuth error code is logged; the rest of the body is the provider's business.
        let error = response
            .json::<TokenError>()
            .await
            .map(|e| e.error.chars().take(64).collect::<String>())
            .unwrap_or_default();
        tracing::warn!(%status, %error, "Google sign-in refused: token endpoint said no");
        return Err(AppError::unauthorized(
            "Google did not accept this sign-in, so you were not signed in. Start again from the sign-in page.",
        ));
    }
    let body: TokenResponse = response.json().await.map_err(|_| {
        refuse(
            StatusCode::UNAUTHORIZED,
            "oidc_bad_token_response",
            "token response without an id_token",
            "Google's answer could not be read, so you were not signed in. Start again from the sign-in page.",
        )
    })?;
    Ok(body.id_token)
}

#[derive(Deserialize)]
struct TokenResponse {
    id_token: String,
}

#[derive(Deserialize)]
struct TokenError {
    error: String,
}

fn redirect_uri(state: &AppState) -> String {
    state.config.link("/auth/google/callback")
}

fn clear_flow_cookie(state: &AppState) -> String {
    set_cookie(state, FLOW_COOKIE, "", 0)
}

/// Logs why a sign-in was refused (never with tokens) and builds the page error.
fn refuse(status: StatusCode, code: &'static str, reason: &str, message: &str) -> AppError {
    tracing::warn!(code, reason, "Google sign-in refused");
    AppError::new(status, code, message)
}

fn unreachable_provider(what: &str, cause: &reqwest::Error) -> AppError {
    // reqwest errors name the URL, never the form body, so they are safe to log.
    tracing::warn!(what, error = %cause, "Google sign-in: provider unreachable");
    AppError::new(
        StatusCode::BAD_GATEWAY,
        "oidc_provider_unreachable",
        "Google could not be reached. Try again in a moment, or sign in with your password.",
    )
}

/// Only same-site paths are accepted as a post-sign-in destination (the password sign-in
/// applies the same rule).
fn safe_next(next: Option<&str>) -> &str {
    match next {
        Some(n) if n.starts_with('/') && !n.starts_with("//") && !n.contains('\\') => n,
        _ => "/app",
    }
}

fn pkce_challenge(verifier: &str) -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()))
}

// ---------------------------------------------------------------------------------------------
// The flow cookie

/// One sign-in in progress. The random values are secrets bound to this browser: the browser
/// sending them back with the provider's answer is what proves the answer belongs to it.
struct Flow {
    state: String,
    nonce: String,
    verifier: String,
    next: String,
}

impl Flow {
    /// `state.nonce.verifier.next`, each part base64url, so the value is cookie-safe.
    fn to_cookie(&self) -> String {
        format!(
            "{}.{}.{}.{}",
            self.state,
            self.nonce,
            self.verifier,
            URL_SAFE_NO_PAD.encode(&self.next)
        )
    }

    fn from_cookie(value: &str) -> Option<Flow> {
        let mut parts = value.split('.');
        let mut random = || parts.next().filter(|p| p.len() == 43).map(str::to_owned);
        let (state, nonce, verifier) = (random()?, random()?, random()?);
        let next = URL_SAFE_NO_PAD.decode(parts.next()?).ok()?;
        if parts.next().is_some() {
            return None;
        }
        Some(Flow {
            state,
            nonce,
            verifier,
            next: String::from_utf8(next).ok()?,
        })
    }
}

// ---------------------------------------------------------------------------------------------
// The provider: discovery document and signing keys, cached per process and issuer

#[derive(Debug, Clone, Deserialize)]
struct Metadata {
    issuer: String,
    authorization_endpoint: Url,
    token_endpoint: Url,
    jwks_uri: Url,
}

struct Provider {
    /// The configured issuer, without a trailing slash.
    issuer: String,
    metadata: OnceCell<Metadata>,
    /// The last JWKS fetched; empty until the first ID token needs it.
    keys: RwLock<Arc<Vec<SigningKey>>>,
}

struct SigningKey {
    kid: Option<String>,
    key: VerifyingKey<Sha256>,
}

/// Keyed by issuer URL, so changing the configuration (or a test's mock provider) is a new entry.
static PROVIDERS: LazyLock<Mutex<HashMap<String, Arc<Provider>>>> =
    LazyLock::new(|| Mutex::new(HashMap::new()));

fn provider(issuer: &Url) -> Arc<Provider> {
    let issuer = issuer.as_str().trim_end_matches('/').to_owned();
    let mut providers = PROVIDERS.lock().unwrap_or_else(PoisonError::into_inner);
    providers
        .entry(issuer.clone())
        .or_insert_with(|| {
            Arc::new(Provider {
                issuer,
                metadata: OnceCell::new(),
                keys: RwLock::new(Arc::new(Vec::new())),
            })
        })
        .clone()
}

impl Provider {
    /// The discovery document, fetched once; a failed fetch is retried by the next request.
    async fn metadata(&self, http: &reqwest::Client) -> Result<&Metadata, AppError> {
        self.metadata
            .get_or_try_init(|| async {
                let url = format!("{}/.well-known/openid-configuration", self.issuer);
                let metadata: Metadata = fetch_json(http, &url, "discovery document").await?;
                // OpenID Connect Discovery: the document must name the issuer we asked.
                if metadata.issuer.trim_end_matches('/') != self.issuer {
                    tracing::warn!(
                        configured = %self.issuer,
                        advertised = %metadata.issuer,
                        "Google sign-in: discovery document names another issuer"
                    );
                    return Err(provider_misconfigured());
                }
                Ok(metadata)
            })
            .await
    }

    /// Verifies an ID token with the cached keys, refetching them once if the token names a
    /// key we do not have (the provider rotates its keys). Tokens only arrive here from the
    /// token endpoint, after redeeming a code with our client secret, so outsiders cannot use
    /// unknown key ids to make us hammer the JWKS.
    async fn verify(
        &self,
        http: &reqwest::Client,
        jwt: &str,
        expected: &Expected<'_>,
    ) -> Result<Identity, TokenInvalid> {
        let cached = self.keys.read().await.clone();
        match verify_id_token(jwt, &cached, expected) {
            Err(TokenInvalid::UnknownKey) => {}
            done => return done,
        }
        let fresh = self
            .fetch_keys(http)
            .await
            .map_err(|_| TokenInvalid::KeysUnavailable)?;
        *self.keys.write().await = fresh.clone();
        verify_id_token(jwt, &fresh, expected)
    }

    async fn fetch_keys(&self, http: &reqwest::Client) -> Result<Arc<Vec<SigningKey>>, AppError> {
        let metadata = self.metadata(http).await?;
        let set: JwkSet = fetch_json(http, metadata.jwks_uri.as_str(), "JWKS").await?;
        let keys: Vec<SigningKey> = set.keys.iter().filter_map(Jwk::signing_key).collect();
        Ok(Arc::new(keys))
    }
}

async fn fetch_json<T: serde::de::DeserializeOwned>(
    http: &reqwest::Client,
    url: &str,
    what: &str,
) -> Result<T, AppError> {
    let response = http
        .get(url)
        .send()
        .await
        .map_err(|e| unreachable_provider(what, &e))?;
    if !response.status().is_success() {
        tracing::warn!(what, status = %response.status(), "Google sign-in: provider answered with an error");
        return Err(provider_misconfigured());
    }
    response.json().await.map_err(|e| {
        tracing::warn!(what, error = %e, "Google sign-in: provider sent an unreadable document");
        provider_misconfigured()
    })
}

fn provider_misconfigured() -> AppError {
    AppError::new(
        StatusCode::BAD_GATEWAY,
        "oidc_provider_error",
        "Sign in with Google is not working right now. Try again later, or sign in with your password.",
    )
}

#[derive(Deserialize)]
struct JwkSet {
    keys: Vec<Jwk>,
}

#[derive(Deserialize)]
struct Jwk {
    kty: String,
    kid: Option<String>,
    #[serde(rename = "use")]
    usage: Option<String>,
    alg: Option<String>,
    n: Option<String>,
    e: Option<String>,
}

impl Jwk {
    /// An RSA key meant for RS256 signatures, or `None` for anything else in the set.
    fn signing_key(&self) -> Option<SigningKey> {
        let for_signing = self.usage.as_deref().is_none_or(|u| u == "sig");
        let rs256 = self.alg.as_deref().is_none_or(|a| a == "RS256");
        if self.kty != "RSA" || !for_signing || !rs256 {
            return None;
        }
        let n = BigUint::from_bytes_be(&URL_SAFE_NO_PAD.decode(self.n.as_deref()?).ok()?);
        let e = BigUint::from_bytes_be(&URL_SAFE_NO_PAD.decode(self.e.as_deref()?).ok()?);
        let key = RsaPublicKey::new(n, e).ok()?;
        if key.size() * 8 < MIN_RSA_BITS {
            return None;
        }
        Some(SigningKey {
            kid: self.kid.clone(),
            key: VerifyingKey::new(key),
        })
    }
}

// ---------------------------------------------------------------------------------------------
// ID token verification: a pure function of the token, the keys, what we expect and the clock

struct Expected<'a> {
    issuer: &'a str,
    client_id: &'a str,
    nonce: &'a str,
    /// Unix seconds.
    now: i64,
}

/// What a verified ID token tells us.
struct Identity {
    subject: String,
    email: Option<String>,
    email_verified: bool,
}

#[derive(Debug, thiserror::Error)]
enum TokenInvalid {
    #[error("not a compact JWS")]
    Malformed,
    #[error("algorithm {0:?} is not RS256")]
    Algorithm(String),
    #[error("signed by a key not in the provider's JWKS")]
    UnknownKey,
    #[error("the provider's JWKS could not be fetched")]
    KeysUnavailable,
    #[error("bad signature")]
    Signature,
    #[error("issuer {0:?} is not the configured issuer")]
    Issuer(String),
    #[error("audience is not our client id")]
    Audience,
    #[error("expired")]
    Expired,
    #[error("issued in the future")]
    IssuedInFuture,
    #[error("nonce does not match the flow")]
    Nonce,
}

#[derive(Deserialize)]
struct Header {
    alg: String,
    kid: Option<String>,
}

#[derive(Deserialize)]
struct Claims {
    iss: String,
    sub: String,
    aud: Audience,
    azp: Option<String>,
    exp: i64,
    iat: i64,
    nonce: Option<String>,
    email: Option<String>,
    #[serde(default)]
    email_verified: Option<Flag>,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum Audience {
    One(String),
    Many(Vec<String>),
}

/// Some providers send booleans as strings.
#[derive(Deserialize)]
#[serde(untagged)]
enum Flag {
    Bool(bool),
    Text(String),
}

fn decode_segment<T: serde::de::DeserializeOwned>(segment: &str) -> Result<T, TokenInvalid> {
    let bytes = URL_SAFE_NO_PAD
        .decode(segment)
        .map_err(|_| TokenInvalid::Malformed)?;
    serde_json::from_slice(&bytes).map_err(|_| TokenInvalid::Malformed)
}

fn verify_id_token(
    jwt: &str,
    keys: &[SigningKey],
    expected: &Expected<'_>,
) -> Result<Identity, TokenInvalid> {
    let mut segments = jwt.split('.');
    let (Some(header_b64), Some(claims_b64), Some(signature_b64), None) = (
        segments.next(),
        segments.next(),
        segments.next(),
        segments.next(),
    ) else {
        return Err(TokenInvalid::Malformed);
    };
    let header: Header = decode_segment(header_b64)?;
    // The algorithm is fixed by us, never chosen by the token ("none", HS256 with the public key).
    if header.alg != "RS256" {
        return Err(TokenInvalid::Algorithm(
            header.alg.chars().take(16).collect(),
        ));
    }
    let key = match header.kid.as_deref() {
        Some(kid) => keys.iter().find(|k| k.kid.as_deref() == Some(kid)),
        // Without a kid the key is unambiguous only when there is one.
        None if keys.len() == 1 => keys.first(),
        None => None,
    }
    .ok_or(TokenInvalid::UnknownKey)?;
    let signature = URL_SAFE_NO_PAD
        .decode(signature_b64)
        .ok()
        .and_then(|s| Signature::try_from(s.as_slice()).ok())
        .ok_or(TokenInvalid::Malformed)?;
    let signed = &jwt[..header_b64.len() + 1 + claims_b64.len()];
    key.key
        .verify(signed.as_bytes(), &signature)
        .map_err(|_| TokenInvalid::Signature)?;

    let claims: Claims = decode_segment(claims_b64)?;
    if claims.sub.is_empty() {
        return Err(TokenInvalid::Malformed);
    }
    if !issuer_matches(&claims.iss, expected.issuer) {
        return Err(TokenInvalid::Issuer(claims.iss.chars().take(100).collect()));
    }
    let ours = |a: &String| a == expected.client_id;
    let audience_ok = match &claims.aud {
        Audience::One(aud) => ours(aud),
        // With several audiences the token must have been issued to us (OIDC Core 3.1.3.7).
        Audience::Many(auds) => auds.iter().any(ours) && claims.azp.as_ref().is_some_and(ours),
    };
    if !audience_ok || claims.azp.as_ref().is_some_and(|azp| !ours(azp)) {
        return Err(TokenInvalid::Audience);
    }
    if claims.exp + CLOCK_SKEW_SECS <= expected.now {
        return Err(TokenInvalid::Expired);
    }
    if claims.iat > expected.now + CLOCK_SKEW_SECS {
        return Err(TokenInvalid::IssuedInFuture);
    }
    let nonce_ok = claims
        .nonce
        .as_deref()
        .is_some_and(|n| tokens::constant_time_eq(n.as_bytes(), expected.nonce.as_bytes()));
    if !nonce_ok {
        return Err(TokenInvalid::Nonce);
    }
    let email_verified = matches!(claims.email_verified, Some(Flag::Bool(true)))
        || matches!(&claims.email_verified, Some(Flag::Text(t)) if t == "true");
    Ok(Identity {
        subject: claims.sub,
        email: claims.email,
        email_verified,
    })
}

fn issuer_matches(iss: &str, expected: &str) -> bool {
    let expected = expected.trim_end_matches('/');
    // Google documents that its ID tokens may also name the issuer without the scheme.
    iss.trim_end_matches('/') == expected
        || (expected == "https://accounts.google.com" && iss == "accounts.google.com")
}
