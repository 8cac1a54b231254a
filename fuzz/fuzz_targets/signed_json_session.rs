//! Arbitrary JSON under a valid MAC through a whole session: the payload is
//! signed (or encrypted) with the real key, so the meta and field parsing,
//! the absolute-lifetime and refresh arithmetic on the times it carries, and
//! the save of whatever it held are all reached. Nothing may panic (the
//! fuzz build has overflow checks on), and a field written in the request
//! must be read back by the next one.
//!
//! Input: `[selector, (8-byte timestamp if selector bit 4), payload...]`;
//! selector bits 0-1 pick the interface (native signed, native encrypted,
//! Flask, flask-session-plus), bit 2 compresses a Flask payload, bit 3
//! toggles permanence in the request, bit 5 picks the native signed
//! interface without an absolute lifetime.
#![no_main]

use libfuzzer_sys::fuzz_target;
use serde_json::json;
use session_plus_core::{unix_now, SessionDriver};
use session_plus_fuzz::{
    check_read_back, flask_signed, native_encrypted, native_signed, Expected, Fixture, FlaskDigest,
    Jar,
};

fuzz_target!(|data: &[u8]| {
    let Some((&sel, mut payload)) = data.split_first() else {
        return;
    };
    let mut ts = u64::try_from(unix_now()).unwrap_or(0);
    if sel & 0x10 != 0 && payload.len() >= 8 {
        ts = u64::from_be_bytes(payload[..8].try_into().unwrap_or_default());
        payload = &payload[8..];
    }
    let compress = sel & 4 != 0;
    let (name, field, value) = match sel & 3 {
        // `csrf` has no absolute lifetime, `data` has one.
        0 if sel & 0x20 != 0 => ("csrf", "csrf_token", native_signed("csrf", payload)),
        0 => ("data", "theme", native_signed("data", payload)),
        1 => ("enc", "secret", native_encrypted("enc", payload, sel)),
        2 => (
            "flask",
            "flask_field",
            flask_signed(FlaskDigest::Sha1, payload, compress, ts),
        ),
        _ => (
            "fsp",
            "fsp_field",
            flask_signed(FlaskDigest::Sha3, payload, compress, ts),
        ),
    };
    let header = format!("{name}={value}");
    let fx = Fixture::new();
    fx.rt.block_on(async {
        let driver = SessionDriver::new(fx.manager.clone(), [header.as_bytes()]);
        let s = driver.session();
        let _ = s.to_map().await;
        let was_permanent = s.is_permanent(name).await.unwrap_or(false);
        let mut expected = Expected::new();
        if s.insert(field, json!("written")).await.is_ok() {
            expected.insert(field.to_owned(), Some(json!("written")));
        }
        let toggled = sel & 8 != 0 && s.set_permanent(name, !was_permanent).await.is_ok();
        let outcome = driver.finish().await;
        assert_eq!(outcome.status.is_some(), outcome.error.is_some());
        let mut jar = Jar::from_header(header.as_bytes());
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
        if toggled {
            assert_eq!(
                driver.session().is_permanent(name).await.ok(),
                Some(!was_permanent),
                "permanence set in the previous request is lost"
            );
        }
        let again = driver.finish().await;
        assert!(
            again.status.is_none(),
            "a read-only request failed: {:?}",
            again.error
        );
    });
});
