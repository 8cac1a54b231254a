//! The same session and keys give the same responses on actix-web and on
//! axum, cookie for cookie: one manager, one script of handler actions run
//! through both adapters, every `Set-Cookie` compared byte for byte after
//! blanking only what is random or time-dependent (session ids, the
//! session's binding value, the creation and access times, the `Expires`
//! date); removal cookies are compared exactly.

mod support;

use std::future::Future;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use axum::body::Body;
use axum::response::{IntoResponse, Response};
use http::{Method, StatusCode, Uri};
use http_body_util::BodyExt;
use session_plus::{SessionError, SessionLayer};
use session_plus_http_suite::{
    routes, seed_manager, send, signed_payload, Adapter, App, FaultyStore, Jar, Reply,
};
use tower::ServiceExt;

/// The suite's routes on axum (the `session-plus` layer), as in its own tests.
#[derive(Clone)]
struct AxumApp(axum::Router);

async fn axum_route(
    session: session_plus::Session,
    method: Method,
    uri: Uri,
) -> Result<Response, SessionError> {
    let done = routes::handle(&session, method.as_str(), &uri.to_string()).await?;
    let status = StatusCode::from_u16(done.status).expect("status");
    Ok(match done.cache_control {
        Some(cc) => (status, [(http::header::CACHE_CONTROL, cc)], done.body).into_response(),
        None => (status, done.body).into_response(),
    })
}

impl App for AxumApp {
    fn call(&self, request: http::Request<()>) -> impl Future<Output = Reply> {
        let router = self.0.clone();
        async move {
            let res = router
                .oneshot(request.map(|()| Body::empty()))
                .await
                .expect("infallible");
            let status = res.status().as_u16();
            let headers = res.headers().clone();
            let body = res.into_body().collect().await.expect("body").to_bytes();
            Reply::new(
                status,
                headers.iter().map(|(k, v)| (k.as_str(), v.as_bytes())),
                body.to_vec(),
            )
        }
    }
}

/// One `Set-Cookie` with the random and time-dependent parts blanked.
fn normalize(set_cookie: &str) -> String {
    let (pair, attrs) = set_cookie.split_once(';').unwrap_or((set_cookie, ""));
    let (name, value) = pair.split_once('=').expect("name=value");
    if value.is_empty() {
        // A removal: nothing random in it, compared exactly.
        return set_cookie.to_owned();
    }
    let value = if name == "session" {
        assert_eq!(value.len(), 43, "an id: {value}");
        "<id>".to_owned()
    } else {
        let mut payload = signed_payload(value);
        let mac = value.rsplit('.').next().expect("mac");
        payload["m"][0] = 0.into(); // created
        payload["m"][1] = 0.into(); // accessed - created: a second may tick between steps
        payload["m"][4] = "<binding>".into();
        format!("{payload}.<mac of {} bytes>", mac.len())
    };
    let attrs: Vec<String> = attrs
        .split(';')
        .map(|a| match a.trim().split_once('=') {
            Some(("Expires", _)) => " Expires=<date>".to_owned(),
            _ => a.to_owned(),
        })
        .collect();
    format!("{name}={value};{}", attrs.join(";"))
}

/// What a client sees of one response, normalized.
#[derive(Debug, PartialEq)]
struct Seen {
    status: StatusCode,
    set_cookies: Vec<String>,
    raw_lengths: Vec<usize>,
    vary: Vec<String>,
    cache_control: Vec<String>,
    body: String,
}

async fn script<A: App>(app: &A, store: &FaultyStore) -> Vec<Seen> {
    let mut jar = Jar::default();
    let mut seen = Vec::new();
    let steps: &[(&str, &str)] = &[
        ("POST", "/seed-login"),
        ("GET", "/all"),
        ("POST", "/permanent/data/true"),
        ("POST", "/permanent/session/true"),
        ("POST", "/set/theme/blue"),
        ("POST", "/cached"),
        ("POST", "/remove/csrf_token"),
        ("POST", "/login/7"),
        ("POST", "/set/user_data/fails"), // the store is down for this one
        ("GET", "/none"),
        ("POST", "/clear"),
        ("POST", "/set/theme/again"),
        ("POST", "/destroy"),
    ];
    for (method, path) in steps {
        let down = path.ends_with("fails");
        store.fail_write.store(down, Ordering::SeqCst);
        store.fail_load.store(down, Ordering::SeqCst);
        let r = send(app, method, path, &mut jar).await;
        let all = |name: &str| -> Vec<String> {
            r.headers
                .get_all(name)
                .iter()
                .map(|v| v.to_str().unwrap().to_owned())
                .collect()
        };
        seen.push(Seen {
            status: r.status,
            set_cookies: r.set_cookies.iter().map(|c| normalize(c)).collect(),
            raw_lengths: r.set_cookies.iter().map(String::len).collect(),
            vary: all("vary"),
            cache_control: all("cache-control"),
            body: r.body.clone(),
        });
    }
    seen
}

#[actix_web::test]
async fn actix_and_axum_answer_with_the_same_cookies() {
    let store = FaultyStore::new();
    let manager = Arc::new(seed_manager(store.clone(), session_plus::Key::generate()));
    let axum_app = AxumApp(
        axum::Router::new()
            .fallback(axum_route)
            .layer(SessionLayer::new(manager.clone())),
    );
    let actix_app = support::Actix.app(manager).await;
    let on_axum = script(&axum_app, &store).await;
    let on_actix = script(&actix_app, &store).await;
    // The script did exercise what it claims to.
    assert!(on_axum
        .iter()
        .any(|s| s.status == StatusCode::SERVICE_UNAVAILABLE));
    assert!(on_axum
        .iter()
        .any(|s| s.set_cookies.iter().any(|c| c.contains("Max-Age=2678400"))));
    assert!(on_axum
        .iter()
        .any(|s| s.set_cookies.iter().any(|c| c.contains("Max-Age=0"))));
    assert_eq!(on_axum.len(), on_actix.len());
    for (i, (a, b)) in on_axum.iter().zip(&on_actix).enumerate() {
        assert_eq!(a, b, "step {i}");
    }
}

/// A failed save still carries the cookies of the interfaces that did save,
/// on a bare status response (the handler's body replaced).
#[actix_web::test]
async fn a_failed_save_keeps_the_cookies_that_were_saved() {
    let store = FaultyStore::new();
    let manager = Arc::new(seed_manager(store.clone(), session_plus::Key::generate()));
    let app = support::Actix.app(manager).await;
    let mut jar = Jar::default();
    send(&app, "POST", "/seed-login", &mut jar).await;
    store.fail_write.store(true, Ordering::SeqCst);
    // Changes `data` (a cookie: saves) and `session` (the store: fails).
    let r = send(&app, "POST", "/clear", &mut jar).await;
    assert_eq!(r.status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(r.body, "");
    assert!(r.set_cookie("data").is_some(), "{:?}", r.set_cookies);
    assert!(r.set_cookie("session").is_none(), "{:?}", r.set_cookies);
}
