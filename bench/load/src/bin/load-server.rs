//! `load-server <kind> <port> [redis-url]`: one server of the load benchmark,
//! on 127.0.0.1, until killed. Kinds: see `session_plus_load::servers::Kind`.

use std::process::ExitCode;

use session_plus_load::servers::{serve, Kind};

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let parsed = match args.as_slice() {
        [kind, port] | [kind, port, _] => kind
            .parse::<Kind>()
            .and_then(|k| Ok((k, port.parse::<u16>().map_err(|e| format!("port: {e}"))?))),
        _ => Err("usage: load-server <kind> <port> [redis-url]".to_owned()),
    };
    let result = parsed.and_then(|(kind, port)| serve(kind, port, args.get(2).map(String::as_str)));
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("load-server: {e}");
            ExitCode::FAILURE
        }
    }
}
