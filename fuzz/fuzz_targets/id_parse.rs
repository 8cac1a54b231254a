//! Id parsing: `SessionId::parse`, the native signed id cookie and
//! flask-session-plus's signed sid cookie, on arbitrary text and on
//! arbitrary text under a valid signature. Only well-formed ids may come out.
#![no_main]

use libfuzzer_sys::fuzz_target;
use session_plus_core::cookie_format::{IdCookieSigner, IdSigner};
use session_plus_core::SessionId;
use session_plus_flask::FlaskIdSigner;
use session_plus_fuzz::{
    flask_secrets, flask_signed_id, native_signed_id, ring, self_check, well_formed_id,
};

fuzz_target!(|data: &[u8]| {
    self_check();
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let parsed = SessionId::parse(text);
    assert_eq!(
        parsed.is_some(),
        well_formed_id(text),
        "parse disagrees with the id format"
    );
    if let Some(id) = &parsed {
        assert_eq!(id.as_str(), text);
        assert!(!format!("{id:?}{id}").contains(text), "an id is printed");
    }
    let signers: [(Box<dyn IdCookieSigner>, String); 2] = [
        (
            Box::new(IdSigner::new(&ring(), "session")),
            native_signed_id("session", text),
        ),
        (
            Box::new(FlaskIdSigner::new(&flask_secrets())),
            flask_signed_id(text),
        ),
    ];
    for (signer, validly_signed) in &signers {
        if let Some(id) = signer.unsign(text) {
            assert!(
                well_formed_id(id.as_str()),
                "unsign let a malformed id through"
            );
            assert_eq!(signer.unsign(&signer.sign(&id)).as_ref(), Some(&id));
        }
        // Under a valid signature, exactly the well-formed ids come out.
        assert_eq!(signer.unsign(validly_signed), parsed, "signed {text:?}");
    }
});
