//! A whole request: an arbitrary `Cookie` header through a session with
//! every kind of interface (signed, encrypted, Flask and flask-session-plus
//! cookies; server-side stores with native, Flask and no id signing), the
//! handler doing arbitrary operations, then the save. The stores panic if a
//! malformed id reaches them. Then a second request, from a browser that
//! applied the first response's cookies, must read back what the first
//! request wrote.
//!
//! Input: `header 0xFF ops`; each op byte: bits 0-2 the operation, the rest
//! pick the field (or interface) and the value.
#![no_main]

use libfuzzer_sys::fuzz_target;
use serde_json::{json, Value};
use session_plus_core::SessionDriver;
use session_plus_fuzz::{check_read_back, Expected, Fixture, Jar, FIELDS, NAMES};

fuzz_target!(|data: &[u8]| {
    let (header, ops) = match data.iter().position(|&b| b == 0xFF) {
        Some(i) => (&data[..i], &data[i + 1..]),
        None => (data, &[][..]),
    };
    let fx = Fixture::new();
    fx.rt.block_on(async {
        let driver = SessionDriver::new(fx.manager.clone(), [header]);
        let s = driver.session();
        let mut expected = Expected::new();
        let wipe = |expected: &mut Expected| {
            for f in FIELDS {
                expected.insert(f.to_owned(), None);
            }
        };
        for &b in ops.iter().take(64) {
            let field = FIELDS[usize::from(b >> 3) % FIELDS.len()];
            let value: Value = if b & 0x80 == 0 {
                json!(b)
            } else {
                json!(format!("v{b}"))
            };
            match b & 7 {
                0 => {
                    let _ = s.get_value(field).await;
                }
                1 => {
                    if s.insert(field, value.clone()).await.is_ok() {
                        expected.insert(field.to_owned(), Some(value));
                    }
                }
                2 => {
                    if s.remove_value(field).await.is_ok() {
                        expected.insert(field.to_owned(), None);
                    }
                }
                3 => {
                    if let Ok(map) = s.to_map().await {
                        assert!(map.keys().all(|k| !k.is_empty()));
                    }
                }
                4 => {
                    if s.clear().await.is_ok() {
                        wipe(&mut expected);
                    }
                }
                5 => {
                    let name = NAMES[usize::from(b >> 3) % NAMES.len()];
                    if s.set_permanent(name, b & 0x40 != 0).await.is_ok() {
                        assert_eq!(s.is_permanent(name).await.ok(), Some(b & 0x40 != 0));
                    }
                }
                6 => {
                    let _ = s.cycle_id().await;
                }
                _ => {
                    if s.destroy().await.is_ok() {
                        wipe(&mut expected);
                    }
                }
            }
        }
        if ops.is_empty() {
            let _ = s.to_map().await;
        }
        let outcome = driver.finish().await;
        assert_eq!(outcome.status.is_some(), outcome.error.is_some());
        assert!(
            s.get_value("x").await.is_err(),
            "the session outlived its request"
        );
        let mut jar = Jar::from_header(header);
        jar.apply(&outcome);
        if outcome.status.is_some() {
            return;
        }
        let next = jar.header();
        let driver = SessionDriver::new(fx.manager.clone(), [next.as_slice()]);
        let map = driver
            .session()
            .to_map()
            .await
            .expect("the next request reads");
        check_read_back(&expected, &map);
        let again = driver.finish().await;
        assert!(
            again.status.is_none(),
            "a read-only request failed: {:?}",
            again.error
        );
    });
});
