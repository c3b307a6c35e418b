//! For the website's router tests: a browser of one person (its cookies) that sends requests
//! through `app` with `oneshot`, and logs in to the back office.

use crate::app::{AppState as WebState, app};
use onestop_model::Timestamp;
use onestop_model::clock::Clock;

/// The time now (the system's clock: the router tests run against today's hall).
pub fn now() -> Timestamp {
    onestop_protocol::clock::SystemClock.now()
}

/// A core in memory on the system's clock.
pub fn core() -> crate::core::Core {
    crate::core::Core::in_memory(std::sync::Arc::new(onestop_protocol::clock::SystemClock))
}
use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use tower::ServiceExt;

/// The password test accounts are made with.
pub const PASSWORD: &str = "correct horse battery";

pub struct Resp {
    pub status: StatusCode,
    pub headers: axum::http::HeaderMap,
    pub body: String,
}

impl Resp {
    /// Where a redirect leads ("" for none).
    pub fn location(&self) -> &str {
        self.headers.get(header::LOCATION).and_then(|v| v.to_str().ok()).unwrap_or("")
    }
}

/// A request from client `ip`, as the local reverse proxy passes it on (its
/// `X-Forwarded-For`, from a loopback peer), with `cookie` and a form body for a POST.
pub async fn send_from(
    app: &axum::Router,
    method: &str,
    uri: &str,
    cookie: &str,
    ip: &str,
    form: &str,
) -> Resp {
    let mut req = Request::builder().method(method).uri(uri).header("x-forwarded-for", ip);
    if !cookie.is_empty() {
        req = req.header(header::COOKIE, cookie);
    }
    if method == "POST" {
        req = req.header(header::CONTENT_TYPE, "application/x-www-form-urlencoded");
    }
    let mut req = req.body(Body::from(form.to_string())).unwrap();
    req.extensions_mut()
        .insert(axum::extract::ConnectInfo(std::net::SocketAddr::from(([127, 0, 0, 1], 40000))));
    let resp = app.clone().oneshot(req).await.unwrap();
    let status = resp.status();
    let headers = resp.headers().clone();
    let body = axum::body::to_bytes(resp.into_body(), 1 << 22).await.unwrap();
    Resp { status, headers, body: String::from_utf8_lossy(&body).into_owned() }
}

/// One person's browser: the cookies the site set.
pub struct Client {
    state: WebState,
    cookies: Vec<(String, String)>,
}

impl Client {
    pub fn new(state: &WebState) -> Client {
        Client { state: state.clone(), cookies: vec![] }
    }

    pub async fn send(&mut self, req: axum::http::request::Builder, body: Body) -> Resp {
        let cookie = self.cookies.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join("; ");
        let req = if cookie.is_empty() { req } else { req.header(header::COOKIE, cookie) };
        let resp = app(self.state.clone()).oneshot(req.body(body).unwrap()).await.unwrap();
        for c in resp.headers().get_all(header::SET_COOKIE) {
            let kv = c.to_str().unwrap().split(';').next().unwrap();
            let (k, v) = kv.split_once('=').unwrap();
            self.cookies.retain(|(n, _)| n != k);
            if !v.is_empty() {
                self.cookies.push((k.into(), v.into()));
            }
        }
        let status = resp.status();
        let headers = resp.headers().clone();
        let body = axum::body::to_bytes(resp.into_body(), 1 << 22).await.unwrap();
        Resp { status, headers, body: String::from_utf8_lossy(&body).into_owned() }
    }

    pub async fn get(&mut self, path: &str) -> Resp {
        self.send(Request::builder().uri(path), Body::empty()).await
    }

    pub async fn post(&mut self, path: &str, form: &[(&str, &str)]) -> Resp {
        let body = serde_urlencoded::to_string(form).unwrap();
        self.send(
            Request::builder()
                .method("POST")
                .uri(path)
                .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded"),
            Body::from(body),
        )
        .await
    }

    /// The CSRF token in a page's forms.
    pub fn csrf_in(body: &str) -> String {
        let i = body.find("name=\"csrf\" value=\"").expect("a form with a CSRF field") + 19;
        body[i..i + 64].to_string()
    }

    /// Logs in to the back office with [`PASSWORD`]; returns the session's CSRF token.
    pub async fn login(&mut self, login: &str) -> String {
        let page = self.get("/office/login").await;
        let csrf = Client::csrf_in(&page.body);
        let r = self
            .post(
                "/office/login",
                &[("csrf", &csrf), ("login", login), ("password", PASSWORD), ("next", "/office")],
            )
            .await;
        assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
        let home = self.get("/office").await;
        assert_eq!(home.status, StatusCode::OK);
        Client::csrf_in(&home.body)
    }
}
