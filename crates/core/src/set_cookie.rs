//! `Set-Cookie` header values, without a web framework.

use crate::config::Interface;

/// One `Set-Cookie` the response must carry.
///
/// Produced by [`SessionDriver::finish`](crate::SessionDriver::finish):
///
/// ```
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// use std::sync::Arc;
/// use session_plus_core::{Interface, Key, SessionDriver, SessionManager};
///
/// let m = Arc::new(SessionManager::builder().keys(Key::generate())
///     .interface(Interface::secure_cookie("data")).build().unwrap());
/// let driver = SessionDriver::new(m, std::iter::empty::<&[u8]>());
/// driver.session().insert("theme", "dark").await.unwrap();
/// let cookie = &driver.finish().await.cookies[0];
/// assert_eq!(cookie.name(), "data");
/// assert!(cookie.header_value().ends_with("; Path=/; HttpOnly; SameSite=Lax"));
/// assert_eq!(format!("{cookie:?}"), "SetCookie(data=REDACTED)");
/// # });
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct SetCookie {
    name: String,
    header: String,
}

impl std::fmt::Debug for SetCookie {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The value is a secret (an id or session data): print the name only.
        write!(f, "SetCookie({}=REDACTED)", self.name)
    }
}

impl SetCookie {
    /// A cookie carrying `value`, with `max_age` seconds (None: browser session).
    pub(crate) fn new(cfg: &Interface, value: &str, max_age: Option<i64>, now: i64) -> Self {
        let mut h = String::with_capacity(cfg.cookie_name.len() + value.len() + 96);
        h.push_str(&cfg.cookie_name);
        h.push('=');
        h.push_str(value);
        attributes(&mut h, cfg, max_age, now);
        Self {
            name: cfg.cookie_name.clone(),
            header: h,
        }
    }

    /// A cookie that makes the browser forget `cfg`'s cookie.
    pub(crate) fn removal(cfg: &Interface) -> Self {
        let mut h = format!("{}=", cfg.cookie_name);
        attributes(&mut h, cfg, Some(0), 0);
        Self {
            name: cfg.cookie_name.clone(),
            header: h,
        }
    }

    /// The cookie's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The full header value.
    pub fn header_value(&self) -> &str {
        &self.header
    }

    /// The `name=value` part (what a browser sends back in `Cookie`).
    pub fn pair(&self) -> &str {
        &self.header[..self.pair_len()]
    }

    /// Bytes of `name=value` (what the browser limit of 4096 applies to).
    pub(crate) fn pair_len(&self) -> usize {
        self.header.find(';').unwrap_or(self.header.len())
    }
}

fn attributes(h: &mut String, cfg: &Interface, max_age: Option<i64>, now: i64) {
    h.push_str("; Path=");
    h.push_str(&cfg.cookie_path);
    if let Some(d) = &cfg.cookie_domain {
        h.push_str("; Domain=");
        h.push_str(d);
    }
    if let Some(age) = max_age {
        h.push_str("; Max-Age=");
        h.push_str(&age.to_string());
        h.push_str("; Expires=");
        h.push_str(&http_date(if age == 0 {
            0
        } else {
            now.saturating_add(age)
        }));
    }
    if cfg.cookie_httponly {
        h.push_str("; HttpOnly");
    }
    if cfg.cookie_secure {
        h.push_str("; Secure");
    }
    h.push_str("; SameSite=");
    h.push_str(cfg.cookie_samesite.as_str());
}

/// Latest time a cookie's `Expires` can carry: 9999-12-31T23:59:59Z (the
/// HTTP date format has four-digit years). A `Max-Age` beyond it is still sent
/// exactly; browsers use `Max-Age` when both are present.
const MAX_EXPIRES: i64 = 253_402_300_799;

/// RFC 7231 IMF-fixdate of a Unix time, clamped to 1970..=9999, e.g.
/// `Tue, 14 Nov 2023 22:13:20 GMT`.
fn http_date(unix: i64) -> String {
    let secs = u64::try_from(unix.clamp(0, MAX_EXPIRES)).unwrap_or(0);
    httpdate::fmt_http_date(std::time::UNIX_EPOCH + std::time::Duration::from_secs(secs))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn http_dates_are_imf_fixdates_clamped_to_four_digit_years() {
        assert_eq!(http_date(1_700_000_000), "Tue, 14 Nov 2023 22:13:20 GMT");
        assert_eq!(http_date(0), "Thu, 01 Jan 1970 00:00:00 GMT");
        assert_eq!(http_date(-5), "Thu, 01 Jan 1970 00:00:00 GMT");
        assert_eq!(http_date(MAX_EXPIRES), "Fri, 31 Dec 9999 23:59:59 GMT");
        assert_eq!(http_date(i64::MAX), "Fri, 31 Dec 9999 23:59:59 GMT");
    }

    #[test]
    fn a_huge_max_age_still_gives_a_valid_expires() {
        let cfg = Interface::secure_cookie("data");
        let c = SetCookie::new(&cfg, "v", Some(i64::MAX / 4), i64::MAX - 1);
        assert!(
            c.header_value()
                .contains("; Expires=Fri, 31 Dec 9999 23:59:59 GMT;"),
            "{}",
            c.header_value()
        );
    }
}
