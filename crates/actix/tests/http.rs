//! The shared HTTP behaviour suite (`session-plus-http-suite`) on actix-web.

mod support;

session_plus_http_suite::suite!(actix_web::test, support::Actix);
