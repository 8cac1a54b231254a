//! `cargo run -p session-plus-demo`: the seed's three-interface session behind
//! a login form, on 127.0.0.1. Settings come from the environment (see the
//! README); `RUST_LOG` filters the log (default `info,session_plus=debug`: one
//! line per request and per backend call).

#[tokio::main]
async fn main() {
    tracing_subscriber::fmt()
        // Colours only on a terminal: a log file gets plain text.
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stdout()))
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "info,session_plus=debug".into()),
        )
        .init();
    if let Err(e) = session_plus_demo::run_from_env().await {
        eprintln!("demo: cannot start: {e}");
        std::process::exit(1);
    }
}
