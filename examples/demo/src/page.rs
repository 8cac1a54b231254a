//! The demo's HTML: one small inline stylesheet, no external assets.

use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};

const STYLE: &str = "
:root { color-scheme: light; --ink: #1d2330; --muted: #5b6475; --line: #dde2ea; --accent: #2f5bd3; }
* { box-sizing: border-box; }
body { margin: 0; font: 16px/1.5 system-ui, -apple-system, 'Segoe UI', Roboto, sans-serif; color: var(--ink); background: #f4f6fa; }
main { max-width: 60rem; margin: 0 auto; padding: 1.5rem 1rem 3rem; }
h1 { margin: 0 0 .25rem; font-size: 1.8rem; }
h2 { margin: 2rem 0 .5rem; font-size: 1.2rem; }
p.lead { margin: 0 0 1.5rem; color: var(--muted); }
.card { background: #fff; border: 1px solid var(--line); border-radius: .6rem; padding: 1rem 1.25rem; margin: 0 0 1rem; }
.row { display: flex; gap: 1rem; align-items: center; flex-wrap: wrap; }
.flash { background: #e8f5e9; border-color: #a5d6a7; }
.error { background: #fdecea; border-color: #f5b7b1; }
form { margin: 0; }
input[type=text] { font: inherit; padding: .35rem .6rem; border: 1px solid var(--line); border-radius: .4rem; }
button { font: inherit; padding: .35rem .9rem; border: 0; border-radius: .4rem; background: var(--accent); color: #fff; cursor: pointer; }
button.secondary { background: #6b7487; }
table { width: 100%; border-collapse: collapse; background: #fff; border: 1px solid var(--line); border-radius: .6rem; overflow: hidden; }
th, td { text-align: left; padding: .5rem .75rem; border-bottom: 1px solid var(--line); vertical-align: top; }
th { background: #eef1f7; font-size: .85rem; text-transform: uppercase; letter-spacing: .03em; color: var(--muted); }
tr:last-child td { border-bottom: 0; }
code { font: .9em ui-monospace, SFMono-Regular, Menlo, monospace; }
.badge { display: inline-block; padding: .05rem .5rem; border-radius: 1rem; font-size: .85rem; white-space: nowrap; }
.k-cookie { background: #e3ecff; color: #1f3f99; }
.k-encrypted { background: #efe3ff; color: #5a2a99; }
.k-server { background: #dff5ea; color: #16643c; }
.muted { color: var(--muted); font-size: .9rem; }
.counter { font-size: 1.6rem; font-weight: 600; min-width: 2ch; display: inline-block; }
a { color: var(--accent); }
";

/// Escape text for HTML element content and attribute values.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// A whole page around `body` (already HTML).
pub fn layout(title: &str, body: &str) -> String {
    format!(
        r#"<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title}</title><style>{STYLE}</style></head>
<body><main>
{body}
</main></body></html>"#,
        title = escape(title),
    )
}

/// An error page with a way back.
pub fn error_page(status: StatusCode, title: &str, explanation: &str) -> Response {
    let body = format!(
        r#"<h1>{code} {title}</h1>
<div class="card error"><p id="error">{explanation}</p>
<p><a id="back" href="/">&larr; Back to the demo</a></p></div>"#,
        code = status.as_u16(),
        title = escape(title),
        explanation = escape(explanation),
    );
    (
        status,
        Html(layout(&format!("{title} - session-plus demo"), &body)),
    )
        .into_response()
}

/// What a status means to the person who got it.
pub fn explain(status: StatusCode) -> (&'static str, &'static str) {
    match status.as_u16() {
        400 => ("Bad request", "The request could not be understood."),
        403 => ("Forbidden", "The form's CSRF token is missing or wrong, so nothing was changed. Reload the page and try again."),
        404 => ("Not found", "There is no page at this address."),
        405 => ("Method not allowed", "This address does not accept that kind of request."),
        409 => ("Conflict", "Your session changed while this request ran (a login or logout in another tab); nothing was changed. Try again."),
        503 => ("Service unavailable", "The session store could not be reached; nothing was changed. Try again in a moment."),
        _ => ("Error", "Something went wrong on the server; nothing was changed."),
    }
}

/// A JSON value as a person would read it: text without quotes, objects as
/// `key: value` pairs, lists separated by commas.
///
/// ```
/// use session_plus_demo::page::readable;
/// assert_eq!(readable(&serde_json::json!("ann")), "ann");
/// assert_eq!(readable(&serde_json::json!({"name": "Ann", "age": 3})), "age: 3, name: Ann");
/// assert_eq!(readable(&serde_json::json!([1, "two"])), "1, two");
/// assert_eq!(readable(&serde_json::json!(null)), "(none)");
/// ```
pub fn readable(value: &serde_json::Value) -> String {
    use serde_json::Value;
    match value {
        Value::Null => "(none)".to_owned(),
        Value::String(s) => s.clone(),
        Value::Bool(b) => if *b { "yes" } else { "no" }.to_owned(),
        Value::Number(n) => n.to_string(),
        Value::Array(items) => items.iter().map(readable).collect::<Vec<_>>().join(", "),
        Value::Object(map) => {
            // Sorted, whatever map order serde_json was built with.
            let mut pairs: Vec<(&String, &Value)> = map.iter().collect();
            pairs.sort_by(|a, b| a.0.cmp(b.0));
            pairs
                .into_iter()
                .map(|(k, v)| format!("{k}: {}", readable(v)))
                .collect::<Vec<_>>()
                .join(", ")
        }
    }
}
