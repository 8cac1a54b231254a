//! `cargo run -p session-plus-actix-demo`: the demo on actix-web. Settings
//! (all optional): `DEMO_ADDR` (default `127.0.0.1:3000`), `SESSION_SECRET`
//! (at least 32 bytes; default a random key per start), `SESSION_DB`
//! (default `session-plus-actix-demo.db`), `SESSION_REDIS_URL` (the `session`
//! interface moves to Redis).

fn main() {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .init();
    if let Err(e) = actix_web::rt::System::new().block_on(session_plus_actix_demo::run_from_env()) {
        eprintln!("actix-demo: {e}");
        std::process::exit(1);
    }
}
