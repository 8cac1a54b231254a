//! Profiling aid: decode and encode a small signed session cookie in a loop
//! (`valgrind --tool=callgrind target/release/examples/prof_cookie 2000`).
use session_plus_core::cookie_format::{CookieFormat, SignedFormat};
use session_plus_core::store::{Record, RecordMeta};
use session_plus_core::{unix_now, Key, KeyRing};

fn main() {
    let ring = KeyRing::new(Key::generate());
    let f = SignedFormat::new(&ring, "data");
    let now = unix_now();
    let record = Record::new(
        [("counter".to_owned(), serde_json::json!(12345))].into(),
        RecordMeta::new(now, now + 86400, "AAAAAAAAAAAAAAAAAAAAAA"),
    );
    let v = f.encode(&record);
    let n: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(20_000);
    let mut ok = 0;
    for _ in 0..n {
        ok += usize::from(f.decode(std::hint::black_box(&v), now).is_some());
        ok += f.encode(std::hint::black_box(&record)).len() & 1;
    }
    println!("{ok}");
}
