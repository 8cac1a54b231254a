//! The slot map of a Redis Cluster, read with `CLUSTER SLOTS` on small
//! blocking connections of the near cache's own (one per node asked, kept
//! between polls).

use std::collections::HashMap;
use std::net::TcpStream;

use super::resp::Frame;
use super::{command, connect, join_host_port, Auth};

/// Slot ranges and the address of the master serving each, sorted; the
/// union of what every node asked answered (nodes that disagree while the
/// cluster converges give overlapping ranges: still a fingerprint of what
/// they said).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(super) struct SlotMap(Vec<(u16, u16, String)>);

impl SlotMap {
    /// Every master named, sorted, once each.
    pub(super) fn masters(&self) -> Vec<String> {
        let mut out: Vec<String> = self.0.iter().map(|(_, _, a)| a.clone()).collect();
        out.sort();
        out.dedup();
        out
    }
}

/// Control connections, by address.
#[derive(Default)]
pub(super) struct Controls {
    conns: HashMap<String, (TcpStream, Vec<u8>)>,
}

impl Controls {
    /// The slot map as every node in `nodes` sees it (the seeds only if none
    /// of them answers); `None` if nobody answered.
    pub(super) fn poll(
        &mut self,
        nodes: &[String],
        seeds: &[String],
        auth: Option<&Auth>,
    ) -> Option<SlotMap> {
        let mut ranges = Vec::new();
        let mut answered = false;
        for addr in nodes {
            if let Ok(map) = self.slots(addr, auth) {
                ranges.extend(map.0);
                answered = true;
            }
        }
        if !answered {
            for addr in seeds {
                if let Ok(map) = self.slots(addr, auth) {
                    ranges.extend(map.0);
                    answered = true;
                    break;
                }
            }
        }
        self.conns
            .retain(|addr, _| nodes.contains(addr) || seeds.contains(addr));
        answered.then(|| {
            ranges.sort();
            ranges.dedup();
            SlotMap(ranges)
        })
    }

    /// `CLUSTER SLOTS` on `addr` (blocking; a failed connection is dropped
    /// and made again next time).
    pub(super) fn slots(&mut self, addr: &str, auth: Option<&Auth>) -> Result<SlotMap, String> {
        let result = self.query(addr, auth);
        if result.is_err() {
            self.conns.remove(addr);
        }
        let reply = result?;
        parse_slots(&reply, addr)
    }

    fn query(&mut self, addr: &str, auth: Option<&Auth>) -> Result<Frame, String> {
        if !self.conns.contains_key(addr) {
            let mut sock = connect(addr).map_err(|e| e.to_string())?;
            let mut buf = Vec::new();
            if let Some((user, pass)) = auth {
                let args = [
                    "AUTH".to_owned(),
                    user.clone().unwrap_or_else(|| "default".to_owned()),
                    pass.clone(),
                ];
                let reply = command(&mut sock, &mut buf, &args).map_err(|e| e.to_string())?;
                if let Frame::Error(e) = reply {
                    return Err(format!("AUTH failed: {e}"));
                }
            }
            self.conns.insert(addr.to_owned(), (sock, buf));
        }
        let (sock, buf) = self.conns.get_mut(addr).ok_or("no connection")?;
        let args = ["CLUSTER".to_owned(), "SLOTS".to_owned()];
        command(sock, buf, &args).map_err(|e| e.to_string())
    }
}

/// A `CLUSTER SLOTS` reply: `[[start, end, [host, port, id, ...], replicas...], ...]`.
/// An empty or `?` host means the node asked (`queried`).
fn parse_slots(reply: &Frame, queried: &str) -> Result<SlotMap, String> {
    let malformed = || "unexpected CLUSTER SLOTS reply".to_owned();
    let ranges = match reply {
        Frame::Array(ranges) => ranges,
        Frame::Error(e) => return Err(format!("CLUSTER SLOTS failed: {e}")),
        _ => return Err(malformed()),
    };
    let queried_host = queried.rsplit_once(':').map_or(queried, |(h, _)| h);
    let mut out = Vec::new();
    for range in ranges {
        let Frame::Array(parts) = range else {
            return Err(malformed());
        };
        let (Some(Frame::Int(start)), Some(Frame::Int(end)), Some(Frame::Array(master))) =
            (parts.first(), parts.get(1), parts.get(2))
        else {
            return Err(malformed());
        };
        let (Some(Frame::Bulk(host)), Some(Frame::Int(port))) = (master.first(), master.get(1))
        else {
            return Err(malformed());
        };
        let host = std::str::from_utf8(host).map_err(|_| malformed())?;
        let port = u16::try_from(*port).map_err(|_| malformed())?;
        let addr = if host.is_empty() || host == "?" {
            format!("{queried_host}:{port}")
        } else {
            join_host_port(host, port)
        };
        let start = u16::try_from(*start).map_err(|_| malformed())?;
        let end = u16::try_from(*end).map_err(|_| malformed())?;
        out.push((start, end, addr));
    }
    out.sort();
    Ok(SlotMap(out))
}

#[cfg(test)]
mod tests {
    use super::super::resp::parse;
    use super::*;

    #[test]
    fn parses_cluster_slots() {
        let raw = b"*2\r\n*3\r\n:0\r\n:8191\r\n*3\r\n$9\r\n127.0.0.1\r\n:7001\r\n$2\r\nid\r\n\
                    *4\r\n:8192\r\n:16383\r\n*2\r\n$0\r\n\r\n:7002\r\n*2\r\n$3\r\n::1\r\n:7003\r\n";
        let (frame, _) = parse(raw).unwrap().unwrap();
        let map = parse_slots(&frame, "10.0.0.9:7002").unwrap();
        assert_eq!(
            map,
            SlotMap(vec![
                (0, 8191, "127.0.0.1:7001".to_owned()),
                (8192, 16383, "10.0.0.9:7002".to_owned()),
            ])
        );
        assert_eq!(map.masters(), ["10.0.0.9:7002", "127.0.0.1:7001"]);
        let (err, _) = parse(b"-ERR This instance has cluster support disabled\r\n")
            .unwrap()
            .unwrap();
        assert!(parse_slots(&err, "x:1")
            .unwrap_err()
            .contains("cluster support disabled"));
        let (bad, _) = parse(b"*1\r\n:3\r\n").unwrap().unwrap();
        assert!(parse_slots(&bad, "x:1").is_err());
    }
}
