//! A minimal, blocking RESP2 client: enough to poll readiness and to inspect a
//! server from tests without an async runtime.

use std::io::{self, BufRead, BufReader, Write};
use std::net::{Ipv4Addr, TcpStream};
use std::time::Duration;

/// A reply from Redis (RESP2).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reply {
    /// `+OK`-style status line.
    Status(String),
    /// `-ERR ...` error line (a server-side error, not an I/O failure).
    Error(String),
    /// `:n` integer.
    Integer(i64),
    /// Bulk string (`None` for the null bulk string).
    Bulk(Option<Vec<u8>>),
    /// Array (`None` for the null array).
    Array(Option<Vec<Reply>>),
}

impl Reply {
    /// The reply as text when it is a status line or a (UTF-8) bulk string.
    ///
    /// ```
    /// use session_plus_testkit::Reply;
    /// assert_eq!(Reply::Status("PONG".into()).text().as_deref(), Some("PONG"));
    /// assert_eq!(Reply::Bulk(Some(b"x".to_vec())).text().as_deref(), Some("x"));
    /// assert_eq!(Reply::Integer(1).text(), None);
    /// ```
    pub fn text(&self) -> Option<String> {
        match self {
            Self::Status(s) => Some(s.clone()),
            Self::Bulk(Some(b)) => String::from_utf8(b.clone()).ok(),
            _ => None,
        }
    }
}

/// Send one command to `127.0.0.1:port` on a fresh connection and read its reply.
/// Reads time out after 30 s, so a stopped server cannot hang a test forever.
pub(crate) fn command(port: u16, args: &[&str]) -> io::Result<Reply> {
    let stream = TcpStream::connect((Ipv4Addr::LOCALHOST, port))?;
    stream.set_read_timeout(Some(Duration::from_secs(30)))?;
    stream.set_write_timeout(Some(Duration::from_secs(5)))?;
    let mut out = format!("*{}\r\n", args.len()).into_bytes();
    for a in args {
        out.extend_from_slice(format!("${}\r\n", a.len()).as_bytes());
        out.extend_from_slice(a.as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    (&stream).write_all(&out)?;
    read_reply(&mut BufReader::new(stream))
}

fn bad(msg: impl Into<String>) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, msg.into())
}

fn read_reply(r: &mut impl BufRead) -> io::Result<Reply> {
    let mut line = String::new();
    if r.read_line(&mut line)? == 0 {
        return Err(io::Error::new(
            io::ErrorKind::UnexpectedEof,
            "connection closed",
        ));
    }
    let line = line.trim_end_matches("\r\n");
    let (tag, rest) = line
        .split_at_checked(1)
        .ok_or_else(|| bad("empty reply line"))?;
    let int = |s: &str| {
        s.parse::<i64>()
            .map_err(|_| bad(format!("bad length {s:?}")))
    };
    match tag {
        "+" => Ok(Reply::Status(rest.to_owned())),
        "-" => Ok(Reply::Error(rest.to_owned())),
        ":" => Ok(Reply::Integer(int(rest)?)),
        "$" => match usize::try_from(int(rest)?) {
            Err(_) => Ok(Reply::Bulk(None)),
            Ok(n) => {
                let mut buf = vec![0; n + 2];
                r.read_exact(&mut buf)?;
                buf.truncate(n);
                Ok(Reply::Bulk(Some(buf)))
            }
        },
        "*" => match usize::try_from(int(rest)?) {
            Err(_) => Ok(Reply::Array(None)),
            Ok(n) => (0..n)
                .map(|_| read_reply(r))
                .collect::<io::Result<Vec<_>>>()
                .map(|v| Reply::Array(Some(v))),
        },
        other => Err(bad(format!("unknown reply type {other:?}"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_nested_replies() {
        let raw = b"*3\r\n$3\r\nfoo\r\n:7\r\n*-1\r\n";
        let reply = read_reply(&mut &raw[..]).unwrap();
        assert_eq!(
            reply,
            Reply::Array(Some(vec![
                Reply::Bulk(Some(b"foo".to_vec())),
                Reply::Integer(7),
                Reply::Array(None)
            ]))
        );
        assert_eq!(
            read_reply(&mut &b"-ERR x\r\n"[..]).unwrap(),
            Reply::Error("ERR x".into())
        );
    }
}
