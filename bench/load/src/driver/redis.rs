//! Counting Redis commands: `INFO commandstats` deltas over a wrk run, and a
//! `MONITOR` trace of one probe request to tell the client's own commands
//! (network round trips) from the ones a Lua script runs inside Redis
//! (commandstats counts both).

use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, BufReader, Write};
use std::net::TcpStream;
use std::time::Duration;

use session_plus_testkit::RedisServer;

/// Calls per command name (lower case) from `INFO commandstats`.
pub type CommandCounts = BTreeMap<String, u64>;

/// Current `INFO commandstats` calls, without the driver's own commands.
pub fn commandstats(server: &RedisServer) -> Result<CommandCounts, String> {
    Ok(server
        .commandstats()
        .map_err(|e| format!("INFO commandstats: {e}"))?
        .into_iter()
        .filter(|(name, _)| !matches!(name.as_str(), "monitor" | "flushall"))
        .collect())
}

/// `after - before`, dropping unchanged commands.
pub fn delta(before: &CommandCounts, after: &CommandCounts) -> CommandCounts {
    after
        .iter()
        .map(|(k, &v)| {
            (
                k.clone(),
                v.saturating_sub(before.get(k).copied().unwrap_or(0)),
            )
        })
        .filter(|&(_, v)| v > 0)
        .collect()
}

/// The commands one request caused, as `MONITOR` showed them.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
pub struct Trace {
    /// Commands sent by the server under test (one round trip each), in order.
    pub client: Vec<String>,
    /// Commands run inside Lua scripts (`EVAL`/`EVALSHA`), in order.
    pub lua: Vec<String>,
}

impl Trace {
    /// Command names that appeared only inside scripts.
    pub fn lua_only(&self) -> BTreeSet<&str> {
        let client: BTreeSet<&str> = self.client.iter().map(String::as_str).collect();
        self.lua
            .iter()
            .map(String::as_str)
            .filter(|c| !client.contains(c))
            .collect()
    }

    /// `HGETALL, EVALSHA [HEXISTS HSET PEXPIREAT]`, for the report.
    pub fn describe(&self) -> String {
        if self.client.is_empty() && self.lua.is_empty() {
            return "-".to_owned();
        }
        let mut s = self
            .client
            .iter()
            .map(|c| c.to_uppercase())
            .collect::<Vec<_>>()
            .join(", ");
        if !self.lua.is_empty() {
            let inner: Vec<String> = self.lua.iter().map(|c| c.to_uppercase()).collect();
            s.push_str(&format!(" [in Lua: {}]", inner.join(" ")));
        }
        s
    }
}

/// A `MONITOR` connection: start it, make the request, then [`Monitor::finish`].
pub struct Monitor {
    reader: BufReader<TcpStream>,
}

impl Monitor {
    /// Open a `MONITOR` connection to the server on `port`.
    pub fn start(port: u16) -> Result<Self, String> {
        let mut stream =
            TcpStream::connect(("127.0.0.1", port)).map_err(|e| format!("MONITOR connect: {e}"))?;
        stream
            .write_all(b"MONITOR\r\n")
            .map_err(|e| format!("MONITOR: {e}"))?;
        stream
            .set_read_timeout(Some(Duration::from_millis(300)))
            .map_err(|e| e.to_string())?;
        let mut reader = BufReader::new(stream);
        let mut ok = String::new();
        reader
            .read_line(&mut ok)
            .map_err(|e| format!("MONITOR reply: {e}"))?;
        if !ok.starts_with("+OK") {
            return Err(format!("MONITOR answered {ok:?}"));
        }
        Ok(Self { reader })
    }

    /// Skip what Redis is still doing (requests a server had queued when the
    /// load stopped) until it has been quiet for 300 ms.
    pub fn settle(&mut self) {
        let mut line = String::new();
        while matches!(self.reader.read_line(&mut line), Ok(n) if n > 0) {
            line.clear();
        }
    }

    /// Everything seen since `start` (or `settle`), once Redis has been quiet
    /// for 300 ms.
    pub fn finish(mut self) -> Trace {
        let mut trace = Trace::default();
        let mut line = String::new();
        // A read timeout ends the trace.
        while matches!(self.reader.read_line(&mut line), Ok(n) if n > 0) {
            if let Some((lua, cmd)) = parse_line(&line) {
                if lua {
                    trace.lua.push(cmd);
                } else {
                    trace.client.push(cmd);
                }
            }
            line.clear();
        }
        trace
    }
}

/// `+1700000000.123456 [0 127.0.0.1:5555] "HGETALL" "k"` -> (false, "hgetall").
fn parse_line(line: &str) -> Option<(bool, String)> {
    let open = line.find('[')?;
    let close = line[open..].find(']')? + open;
    let source = &line[open + 1..close];
    let lua = source.split_whitespace().nth(1) == Some("lua");
    let rest = &line[close + 1..];
    let start = rest.find('"')? + 1;
    let end = rest[start..].find('"')? + start;
    Some((lua, rest[start..end].to_lowercase()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_monitor_lines() {
        assert_eq!(
            parse_line("+1700000000.123456 [0 127.0.0.1:5555] \"HGETALL\" \"k\"\r\n"),
            Some((false, "hgetall".to_owned()))
        );
        assert_eq!(
            parse_line("+1700000000.123456 [0 lua] \"hset\" \"k\" \"f\" \"1\"\r\n"),
            Some((true, "hset".to_owned()))
        );
    }

    #[test]
    fn deltas_and_lua_only() {
        let before: CommandCounts = [("get".to_owned(), 2)].into();
        let after: CommandCounts = [("get".to_owned(), 5), ("hset".to_owned(), 1)].into();
        assert_eq!(
            delta(&before, &after),
            [("get".to_owned(), 3), ("hset".to_owned(), 1)].into()
        );
        let t = Trace {
            client: vec!["evalsha".into(), "get".into()],
            lua: vec!["hset".into(), "get".into()],
        };
        assert_eq!(t.lua_only(), ["hset"].into());
        assert_eq!(t.describe(), "EVALSHA, GET [in Lua: HSET GET]");
    }
}
