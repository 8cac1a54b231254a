//! Cookie decoding of every format (native signed, native encrypted, Flask,
//! flask-session-plus): arbitrary values, and arbitrary payloads under a
//! valid MAC / AEAD tag so the JSON and meta parsing behind the signature
//! check is reached. Nothing may panic; whatever decodes must encode and
//! decode again to the same record.
//!
//! Input: `[selector, bytes...]`; selector bits 0-1 pick the format, bit 2
//! wraps the bytes with a valid signature, bits 3-7 vary `now` and the
//! wrapping (compression, timestamp, nonce).
#![no_main]

use libfuzzer_sys::fuzz_target;
use session_plus_fuzz::{formats, wrap, NOW};

fuzz_target!(|data: &[u8]| {
    let Some((&sel, rest)) = data.split_first() else {
        return;
    };
    let i = usize::from(sel & 3);
    let knob = sel >> 3;
    let now = NOW + i64::from(knob) * 7_919;
    let format = &formats()[i];
    let value = if sel & 4 == 0 {
        String::from_utf8_lossy(rest).into_owned()
    } else {
        wrap(i, rest, knob, now)
    };
    if let Some(record) = format.decode(&value, now) {
        let again = format.encode(&record);
        assert_eq!(
            format.decode(&again, now).as_ref(),
            Some(&record),
            "a decoded record does not survive its own encoding"
        );
    }
});
