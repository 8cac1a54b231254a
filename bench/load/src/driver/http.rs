//! A tiny HTTP/1.1 client for the probes: one request per connection, so the
//! bytes on the wire are exactly what the server sent.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

/// What one probe request got back.
#[derive(Debug, Clone, Default)]
pub struct Probe {
    /// HTTP status code.
    pub status: u16,
    /// Every `Set-Cookie` header value, in order.
    pub set_cookies: Vec<String>,
    /// The body, as text.
    pub body: String,
}

impl Probe {
    /// Total bytes of the `Set-Cookie` header values (attributes included,
    /// header names and line ends not).
    pub fn set_cookie_bytes(&self) -> usize {
        self.set_cookies.iter().map(String::len).sum()
    }

    /// The `name=value` pairs of the cookies set, joined for a `Cookie` header.
    pub fn cookie_header(&self) -> String {
        self.set_cookies
            .iter()
            .filter_map(|c| c.split(';').next())
            .map(str::trim)
            .collect::<Vec<_>>()
            .join("; ")
    }
}

/// `GET path` on `127.0.0.1:port` with an optional `Cookie` header.
pub fn get(port: u16, path: &str, cookie: Option<&str>) -> Result<Probe, String> {
    let mut stream =
        TcpStream::connect(("127.0.0.1", port)).map_err(|e| format!("connect: {e}"))?;
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .map_err(|e| e.to_string())?;
    let mut req = format!("GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n");
    if let Some(c) = cookie.filter(|c| !c.is_empty()) {
        req.push_str(&format!("Cookie: {c}\r\n"));
    }
    req.push_str("\r\n");
    stream
        .write_all(req.as_bytes())
        .map_err(|e| format!("send: {e}"))?;
    let mut raw = Vec::new();
    stream
        .read_to_end(&mut raw)
        .map_err(|e| format!("read: {e}"))?;
    parse(&String::from_utf8_lossy(&raw))
}

fn parse(text: &str) -> Result<Probe, String> {
    let (head, body) = text
        .split_once("\r\n\r\n")
        .ok_or_else(|| format!("no end of headers in {text:?}"))?;
    let mut lines = head.split("\r\n");
    let status = lines
        .next()
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| format!("bad status line in {head:?}"))?;
    let mut set_cookies = Vec::new();
    let mut chunked = false;
    for line in lines {
        if let Some((name, value)) = line.split_once(':') {
            let name = name.trim();
            if name.eq_ignore_ascii_case("set-cookie") {
                set_cookies.push(value.trim().to_owned());
            } else if name.eq_ignore_ascii_case("transfer-encoding")
                && value.trim().eq_ignore_ascii_case("chunked")
            {
                chunked = true;
            }
        }
    }
    let body = if chunked {
        dechunk(body)
    } else {
        body.to_owned()
    };
    Ok(Probe {
        status,
        set_cookies,
        body,
    })
}

fn dechunk(mut rest: &str) -> String {
    let mut out = String::new();
    while let Some((size, after)) = rest.split_once("\r\n") {
        let Ok(n) = usize::from_str_radix(size.trim(), 16) else {
            break;
        };
        if n == 0 || after.len() < n {
            break;
        }
        out.push_str(&after[..n]);
        rest = after[n..].trim_start_matches("\r\n");
    }
    out
}

/// Wait until the server answers `GET /none` with 200.
pub fn wait_until_up(port: u16, timeout: Duration) -> Result<(), String> {
    let start = Instant::now();
    loop {
        match get(port, "/none", None) {
            Ok(p) if p.status == 200 => return Ok(()),
            Ok(p) => return Err(format!("GET /none answered {}", p.status)),
            Err(e) if start.elapsed() > timeout => {
                return Err(format!(
                    "server on port {port} not up after {timeout:?}: {e}"
                ))
            }
            Err(_) => std::thread::sleep(Duration::from_millis(50)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_cookies_and_chunked_body() {
        let raw = "HTTP/1.1 200 OK\r\nset-cookie: a=1; Path=/; HttpOnly\r\nSet-Cookie: b=22\r\n\
                   transfer-encoding: chunked\r\n\r\n2\r\n12\r\n0\r\n\r\n";
        let p = parse(raw).unwrap();
        assert_eq!(p.status, 200);
        assert_eq!(p.cookie_header(), "a=1; b=22");
        assert_eq!(p.set_cookie_bytes(), "a=1; Path=/; HttpOnly".len() + 4);
        assert_eq!(p.body, "12");
    }
}
