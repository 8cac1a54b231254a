//! `layer-cost [iterations] [redis-url]`: the CPU cost of the session layers
//! alone, without sockets, HTTP parsing or the kernel: each axum app is
//! called in a loop on a current-thread runtime (`tower::Service::call` on the
//! Router) with the cookies its first `/write` set, and the time per request
//! is printed next to the no-session baseline's.
//!
//! `LAYER_COST_ONLY=sp-cookie,ts-memory` and `LAYER_COST_ROUTES=/read` narrow
//! the run; `LAYER_COST_BASELINE_COOKIE=...` sends the baseline a Cookie header;
//! `LAYER_COST_OUTER=1` instead times sp-cookie `/none` with the layer wrapped
//! around the whole Router; `LAYER_COST_SCALE=interfaces=N|fields=N` times a
//! configuration of N cookie interfaces or N fields (see `scale_cost`). Deterministic enough to run under `valgrind --tool=callgrind` (a few
//! thousand iterations) to see where instructions go. Used to explain the
//! load benchmark's results; `bench/run.sh` does not run it.

use std::time::Instant;

use axum::body::Body;
use axum::http::{header, Request};
use axum::routing::get;
use axum::Router;
use session_plus::{FieldRules, Interface, Key, SessionLayer, SessionManager};
use session_plus_load::servers::{axum_app, Kind};
use tower::Layer;
use tower::{Service, ServiceExt};

/// sp-cookie with `SessionLayer` wrapped around the whole `Router` (one
/// service) instead of `Router::layer` (which wraps every route): prices
/// axum's per-route wrapping. `LAYER_COST_OUTER=bare` times the same Router
/// without the layer (the baseline of this placement).
async fn outer_layer_cost(iterations: u32) {
    let manager = SessionManager::builder()
        .keys(Key::generate())
        .interface(Interface::secure_cookie("data").fields(FieldRules::All))
        .build()
        .expect("config");
    async fn none() -> &'static str {
        "none"
    }
    let router: Router = Router::new().route("/none", get(none)).with_state(());
    if std::env::var("LAYER_COST_OUTER").as_deref() == Ok("bare") {
        let ns = time_none(router, iterations).await;
        println!("| baseline, same Router | `/none` | {ns:.0} | |");
    } else {
        let svc = SessionLayer::new(std::sync::Arc::new(manager)).layer(router);
        let ns = time_none(svc, iterations).await;
        println!("| sp-cookie, layer around the Router | `/none` | {ns:.0} | |");
    }
}

async fn time_none<S>(mut svc: S, iterations: u32) -> f64
where
    S: Service<Request<Body>, Response = axum::response::Response>,
    S::Error: std::fmt::Debug,
{
    let cookie = std::env::var("LAYER_COST_BASELINE_COOKIE").unwrap_or_default();
    let start = Instant::now();
    for _ in 0..iterations {
        let mut req = Request::get("/none");
        if !cookie.is_empty() {
            req = req.header(header::COOKIE, cookie.as_str());
        }
        let req = req.body(Body::empty()).expect("request");
        let res = ServiceExt::<Request<Body>>::ready(&mut svc)
            .await
            .expect("ready")
            .call(req)
            .await
            .expect("infallible");
        assert_eq!(res.status(), 200);
    }
    start.elapsed().as_nanos() as f64 / f64::from(iterations)
}

/// `LAYER_COST_SCALE=interfaces=N` or `fields=N`: cost as a configuration
/// grows. `interfaces=N`: N signed-cookie interfaces, interface i owning
/// field `f{i}`; `/read` reads and `/write` increments every field (touches
/// every interface). `fields=N`: one signed-cookie interface holding N
/// fields; `/read` reads and `/write` increments one of them.
async fn scale_cost(spec: &str, iterations: u32) {
    use axum::extract::State;
    use session_plus::{Session, SessionError};
    let (what, n) = spec
        .split_once('=')
        .expect("LAYER_COST_SCALE=interfaces=N|fields=N");
    let n: usize = n.parse().expect("a number");
    let mut builder = SessionManager::builder().keys(Key::generate());
    let (names, touched): (Vec<String>, usize) = match what {
        "interfaces" => {
            for i in 0..n {
                builder = builder.interface(
                    Interface::secure_cookie(&format!("c{i}"))
                        .fields(FieldRules::include([format!("f{i}")])),
                );
            }
            ((0..n).map(|i| format!("f{i}")).collect(), n)
        }
        "fields" => {
            builder = builder.interface(Interface::secure_cookie("data").fields(FieldRules::All));
            ((0..n).map(|i| format!("f{i}")).collect(), 1)
        }
        other => panic!("LAYER_COST_SCALE: unknown dimension {other}"),
    };
    let manager = std::sync::Arc::new(builder.build().expect("config"));
    type Names = std::sync::Arc<(Vec<String>, usize)>;
    async fn read(State(s): State<Names>, session: Session) -> Result<String, SessionError> {
        let mut sum = 0;
        for f in &s.0[..s.1] {
            sum += session.get::<i64>(f).await?.unwrap_or(0);
        }
        Ok(sum.to_string())
    }
    async fn write(State(s): State<Names>, session: Session) -> Result<String, SessionError> {
        for f in &s.0[..s.1] {
            let v = session.get::<i64>(f).await?.unwrap_or(0) + 1;
            session.insert(f, v).await?;
        }
        Ok(String::new())
    }
    async fn fill(State(s): State<Names>, session: Session) -> Result<String, SessionError> {
        for f in &s.0 {
            session.insert(f, 1).await?;
        }
        Ok(String::new())
    }
    let state: Names = std::sync::Arc::new((names, touched));
    let mut app: Router = Router::new()
        .route("/fill", get(fill))
        .route("/none", get(|| async { "none" }))
        .route("/read", get(read))
        .route("/write", get(write))
        .with_state(state)
        .layer(SessionLayer::new(manager));
    let (_, set) = call(&mut app, "/fill", "").await;
    let cookie = set.join("; ");
    let routes = std::env::var("LAYER_COST_ROUTES").ok();
    for route in ["/none", "/read", "/write"] {
        if routes.as_ref().is_some_and(|r| !r.contains(route)) {
            continue;
        }
        let ns = time_route(&mut app, route, &cookie, iterations, spec).await;
        println!("| {spec} | `{route}` | {ns:.0} | |");
    }
}

/// Nanoseconds per `GET route` with `cookie`, over `iterations` requests
/// after a tenth as many to warm up; every answer must be 200.
async fn time_route(
    app: &mut Router,
    route: &str,
    cookie: &str,
    iterations: u32,
    label: &str,
) -> f64 {
    for _ in 0..iterations / 10 {
        call(app, route, cookie).await;
    }
    let start = Instant::now();
    for _ in 0..iterations {
        let (status, _) = call(app, route, cookie).await;
        assert_eq!(status, 200, "{label} {route}");
    }
    start.elapsed().as_nanos() as f64 / f64::from(iterations)
}

async fn call(app: &mut Router, path: &str, cookie: &str) -> (u16, Vec<String>) {
    let mut req = Request::get(path);
    if !cookie.is_empty() {
        req = req.header(header::COOKIE, cookie);
    }
    let req = req.body(Body::empty()).expect("request");
    let svc = ServiceExt::<Request<Body>>::ready(app)
        .await
        .expect("ready");
    let res = svc.call(req).await.expect("infallible");
    let cookies = res
        .headers()
        .get_all(header::SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .filter_map(|v| v.split(';').next())
        .map(str::to_owned)
        .collect();
    (res.status().as_u16(), cookies)
}

fn main() {
    let mut args = std::env::args().skip(1);
    let iterations: u32 = args.next().and_then(|s| s.parse().ok()).unwrap_or(200_000);
    let redis_url = args.next();
    if let Ok(spec) = std::env::var("LAYER_COST_SCALE") {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        rt.block_on(scale_cost(&spec, iterations));
        return;
    }
    let only: Option<Vec<Kind>> = std::env::var("LAYER_COST_ONLY").ok().map(|s| {
        s.split(',')
            .map(|k| k.parse().expect("LAYER_COST_ONLY: kind names"))
            .collect()
    });
    let routes = std::env::var("LAYER_COST_ROUTES").ok();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    if std::env::var("LAYER_COST_OUTER").is_ok() {
        rt.block_on(outer_layer_cost(iterations));
        return;
    }
    rt.block_on(async move {
        // Stays 0 when the baseline is filtered out.
        let mut base = [0.0; 3];
        println!("| server | route | ns/request | minus baseline |\n|---|---|--:|--:|");
        for kind in [
            Kind::Baseline,
            Kind::SpCookie,
            Kind::SpRedis,
            Kind::SpSeed,
            Kind::SpEncrypted,
            Kind::SpRedisNear,
            Kind::SpRedisNearOwn,
            Kind::TsMemory,
            Kind::TsRedis,
        ] {
            if only.as_ref().is_some_and(|o| !o.contains(&kind)) {
                continue;
            }
            if kind.uses_redis() && redis_url.is_none() {
                continue;
            }
            // `with_state` turns every handler into a ready route once, as
            // `axum::serve` does; without it axum rebuilds them per request.
            let mut app: Router = axum_app(kind, redis_url.as_deref())
                .await
                .expect("app")
                .with_state(());
            let (_, set) = call(&mut app, "/write", "").await;
            let mut cookie = set.join("; ");
            if kind == Kind::Baseline {
                // To price the Cookie header alone: the baseline sets none.
                cookie = std::env::var("LAYER_COST_BASELINE_COOKIE").unwrap_or_default();
            }
            for (i, route) in ["/none", "/read", "/write"].into_iter().enumerate() {
                if routes.as_ref().is_some_and(|r| !r.contains(route)) {
                    continue;
                }
                let label = kind.to_string();
                let ns = time_route(&mut app, route, &cookie, iterations, &label).await;
                if kind == Kind::Baseline {
                    base[i] = ns;
                }
                println!("| {kind} | `{route}` | {ns:.0} | {:+.0} |", ns - base[i]);
            }
        }
    });
}
