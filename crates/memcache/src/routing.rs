//! Which server of the pool holds a key: rendezvous hashing on XXH3.

use memcache::exp::Router;
use xxhash_rust::xxh3::{xxh3_64, xxh3_64_with_seed};

/// Rendezvous (highest random weight) hashing over a hash that is the same
/// on every machine, every Rust version and every run: 64-bit XXH3, whose
/// output is fixed by its specification.
///
/// Each server scores a key with `XXH3(key, seed = XXH3(server))`, where
/// `server` is the address as configured (`"10.0.0.1:11211"`); the key goes
/// to the highest score. So:
///
/// - every application server that lists the same servers sends a session
///   to the same memcached, whatever order the list is in;
/// - adding a server moves only the keys it now wins (about 1/n of them),
///   removing one moves only its own keys.
///
/// The client crate's default router hashes with Rust's `DefaultHasher`,
/// whose output may change between Rust versions, which would reshuffle
/// sessions across servers on a toolchain upgrade or between two app
/// servers built differently; this router is used instead.
///
/// ```
/// use session_plus_memcache::StableRendezvous;
///
/// let servers = ["10.0.0.1:11211".to_owned(), "10.0.0.2:11211".to_owned()];
/// let i = StableRendezvous.pick(b"session:abc", &servers);
/// assert!(i < 2);
/// // The list order does not matter: the same server wins.
/// let reversed = [servers[1].clone(), servers[0].clone()];
/// assert_eq!(reversed[StableRendezvous.pick(b"session:abc", &reversed)], servers[i]);
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct StableRendezvous;

impl StableRendezvous {
    /// The index in `servers` of the server that holds `key` (0 for an empty
    /// list).
    pub fn pick(&self, key: &[u8], servers: &[String]) -> usize {
        let mut best = (0, 0u64);
        for (index, server) in servers.iter().enumerate() {
            let score = xxh3_64_with_seed(key, xxh3_64(server.as_bytes()));
            // Ties (practically impossible) go to the smaller identity, so
            // the list order never matters.
            if index == 0
                || score > best.1
                || (score == best.1 && server.as_str() < servers[best.0].as_str())
            {
                best = (index, score);
            }
        }
        best.0
    }
}

impl Router for StableRendezvous {
    fn route(&self, key: &[u8], servers: &[String]) -> usize {
        self.pick(key, servers)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn servers(n: usize) -> Vec<String> {
        (0..n).map(|i| format!("10.0.0.{}:11211", i + 1)).collect()
    }

    fn keys() -> impl Iterator<Item = Vec<u8>> {
        (0..30_000).map(|i| format!("session:{i:08}-key").into_bytes())
    }

    /// The hash is fixed: these values were computed once and must never
    /// change (a change would send every session to another server).
    #[test]
    fn routing_is_stable_across_builds() {
        let s = servers(3);
        let picks: Vec<usize> = ["a", "b", "c", "d", "e", "f", "g", "h"]
            .iter()
            .map(|k| StableRendezvous.pick(format!("session{k}").as_bytes(), &s))
            .collect();
        // XXH3-64 of the empty input, from the XXH3 specification.
        assert_eq!(xxh3_64(b""), 0x2D06_8005_38D3_94C2);
        assert_eq!(picks, vec![0, 1, 1, 0, 0, 1, 1, 1]);
    }

    #[test]
    fn spreads_evenly() {
        let s = servers(3);
        let mut counts = [0usize; 3];
        for k in keys() {
            counts[StableRendezvous.pick(&k, &s)] += 1;
        }
        for c in counts {
            assert!((9_000..11_000).contains(&c), "uneven: {counts:?}");
        }
    }

    #[test]
    fn adding_a_server_moves_about_one_in_n() {
        let three = servers(3);
        let four = servers(4);
        let mut moved = 0usize;
        for k in keys() {
            let before = &three[StableRendezvous.pick(&k, &three)];
            let after = &four[StableRendezvous.pick(&k, &four)];
            if before != after {
                assert_eq!(after, &four[3], "a key moved between two old servers");
                moved += 1;
            }
        }
        let share = moved as f64 / 30_000.0;
        assert!(
            (0.22..0.28).contains(&share),
            "moved {share} (expected ~1/4)"
        );
    }

    #[test]
    fn removing_a_server_moves_only_its_keys() {
        let three = servers(3);
        let two: Vec<String> = vec![three[0].clone(), three[2].clone()];
        let mut moved = 0usize;
        for k in keys() {
            let before = &three[StableRendezvous.pick(&k, &three)];
            let after = &two[StableRendezvous.pick(&k, &two)];
            if before != after {
                assert_eq!(before, &three[1], "a key of a surviving server moved");
                moved += 1;
            }
        }
        let share = moved as f64 / 30_000.0;
        assert!(
            (0.30..0.37).contains(&share),
            "moved {share} (expected ~1/3)"
        );
    }

    #[test]
    fn order_of_the_list_does_not_matter() {
        let s = servers(5);
        let mut rev = s.clone();
        rev.reverse();
        for k in keys().take(2_000) {
            assert_eq!(
                s[StableRendezvous.pick(&k, &s)],
                rev[StableRendezvous.pick(&k, &rev)]
            );
        }
    }
}
