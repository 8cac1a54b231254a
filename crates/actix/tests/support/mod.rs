//! The actix-web side of the shared HTTP behaviour suite: an app serving the
//! suite's routes behind [`SessionMiddleware`], driven in-process with
//! `actix_web::test`.
#![allow(dead_code, unreachable_pub)]

use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::sync::Arc;

use actix_web::http::header::{HeaderValue, CACHE_CONTROL};
use actix_web::http::{Method, StatusCode};
use actix_web::{test, web, App, HttpRequest, HttpResponse};
use session_plus_actix::{Session, SessionError, SessionManager, SessionMiddleware};
use session_plus_http_suite::{routes, Reply};

/// The actix-web adapter, for `session_plus_http_suite::suite!`.
pub struct Actix;

type Call = Box<dyn Fn(http::Request<()>) -> Pin<Box<dyn Future<Output = Reply>>>>;

/// One initialised actix-web service.
pub struct ActixApp(Call);

/// The one handler: the suite's routes, errors through [`SessionError`].
async fn route(session: Session, req: HttpRequest) -> Result<HttpResponse, SessionError> {
    let path = req.uri().to_string();
    let done = routes::handle(&session, req.method().as_str(), &path).await?;
    let mut res = HttpResponse::build(StatusCode::from_u16(done.status).expect("status"));
    if let Some(cc) = done.cache_control {
        res.insert_header((CACHE_CONTROL, cc));
    }
    Ok(res.body(done.body))
}

impl session_plus_http_suite::Adapter for Actix {
    type App = ActixApp;

    async fn app(&self, manager: Arc<SessionManager>) -> ActixApp {
        let service = Rc::new(
            test::init_service(
                App::new()
                    .wrap(SessionMiddleware::new(manager))
                    .default_service(web::to(route)),
            )
            .await,
        );
        ActixApp(Box::new(move |req| {
            let service = service.clone();
            Box::pin(async move {
                let mut t = test::TestRequest::default()
                    .method(Method::from_bytes(req.method().as_str().as_bytes()).expect("method"))
                    .uri(&req.uri().to_string());
                for (name, value) in req.headers() {
                    t = t.append_header((
                        name.as_str(),
                        HeaderValue::from_bytes(value.as_bytes()).expect("header"),
                    ));
                }
                let res = test::call_service(&*service, t.to_request()).await;
                let status = res.status().as_u16();
                let headers: Vec<(String, Vec<u8>)> = res
                    .headers()
                    .iter()
                    .map(|(k, v)| (k.as_str().to_owned(), v.as_bytes().to_vec()))
                    .collect();
                let body = test::read_body(res).await.to_vec();
                Reply::new(
                    status,
                    headers.iter().map(|(k, v)| (k.as_str(), v.as_slice())),
                    body,
                )
            })
        }))
    }
}

impl session_plus_http_suite::App for ActixApp {
    fn call(&self, request: http::Request<()>) -> impl Future<Output = Reply> {
        (self.0)(request)
    }
}
