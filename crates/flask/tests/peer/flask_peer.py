"""Flask 3.1 peer for the session-plus interop tests.

Reads one JSON command per line on stdin, answers one JSON line on stdout.
Everything goes through Flask's own code: `app.test_client()` requests hit a
route that uses `flask.session`, so cookies are opened and saved by Flask's
`SecureCookieSessionInterface` (itsdangerous, TaggedJSON, SECRET_KEY_FALLBACKS).

Values travel as Flask TaggedJSON text and are turned into real Python
objects (tuple, bytes, UUID, datetime, Markup) by Flask's own serializer.

Only the clock is replaced, so tests can check expiry without waiting:
`itsdangerous.timed.TimestampSigner.get_timestamp` returns the command's
`now` when one is given (both when signing and when checking max_age).

Commands:
  {"op": "config", "secret_key": str, "fallbacks": [str], "lifetime": int}
  {"op": "request", "cookie": str|null, "now": int|null,
   "set": tagged-json-text|null, "set_dates": {field: ISO 8601 text (UTC)},
   "remove": [str], "permanent": bool|null, "clear": bool}
    -> {"cookie": str|null ("" = deleted, null = no Set-Cookie),
        "session": tagged-json-text, "raw": tagged-json-text (with _permanent),
        "permanent": bool, "types": {field: type}, "iso": {field: isoformat}}
  {"op": "parse_dates", "dates": [str]}
    -> {"unix": [int|null|"error"]}  (werkzeug.http.parse_date, as TaggedJSON reads " d")
"""
import json
import sys
from datetime import datetime, timedelta, timezone


import itsdangerous.timed
from flask import Flask, session

NOW = None
_real_get_timestamp = itsdangerous.timed.TimestampSigner.get_timestamp


def _get_timestamp(self):
    return NOW if NOW is not None else _real_get_timestamp(self)


itsdangerous.timed.TimestampSigner.get_timestamp = _get_timestamp

app = None
PENDING = {}


def make_app(cmd):
    a = Flask(__name__)
    a.secret_key = cmd["secret_key"]
    a.config["SECRET_KEY_FALLBACKS"] = cmd.get("fallbacks") or []
    a.config["PERMANENT_SESSION_LIFETIME"] = timedelta(seconds=cmd.get("lifetime", 31 * 86400))

    @a.route("/", methods=["POST"])
    def op():
        p = PENDING
        ser = a.session_interface.serializer
        if p.get("clear"):
            session.clear()
        if p.get("set"):
            session.update(ser.loads(p["set"]))
        for k, v in (p.get("set_dates") or {}).items():
            session[k] = datetime.fromisoformat(v).replace(tzinfo=timezone.utc)
        for k in p.get("remove") or []:
            session.pop(k, None)
        if p.get("permanent") is not None:
            session.permanent = p["permanent"]
        raw = ser.dumps(dict(session))
        d = dict(session)
        d.pop("_permanent", None)
        return {
            "session": ser.dumps(d),
            "raw": raw,
            "permanent": session.permanent,
            "types": {k: type(v).__name__ for k, v in d.items()},
            "iso": {k: v.isoformat() for k, v in d.items() if isinstance(v, datetime)},
        }

    return a


def request(cmd):
    global NOW, PENDING
    NOW = cmd.get("now")
    PENDING = cmd
    name = app.config["SESSION_COOKIE_NAME"]
    headers = {}
    if cmd.get("cookie") is not None:
        headers["Cookie"] = f"{name}={cmd['cookie']}"
    client = app.test_client(use_cookies=False)
    resp = client.post("/", headers=headers)
    out = resp.get_json()
    out["cookie"] = None
    for h in resp.headers.getlist("Set-Cookie"):
        cname, _, rest = h.partition("=")
        if cname == name:
            value = rest.split(";", 1)[0]
            out["cookie"] = "" if "Expires=Thu, 01 Jan 1970" in h else value
            out["set_cookie"] = h
    return out


def parse_one(text):
    from werkzeug.http import parse_date

    try:
        dt = parse_date(text)
    except Exception:  # Flask itself would fail the request
        return "error"
    if dt is None:
        return None
    return int((dt - datetime(1970, 1, 1, tzinfo=timezone.utc)).total_seconds())


def main():
    global app
    for line in sys.stdin:
        cmd = json.loads(line)
        try:
            if cmd["op"] == "config":
                app = make_app(cmd)
                out = {"ok": True}
            elif cmd["op"] == "request":
                out = request(cmd)
            elif cmd["op"] == "parse_dates":
                out = {"unix": [parse_one(d) for d in cmd["dates"]]}
            else:
                out = {"error": f"unknown op {cmd['op']}"}
        except Exception as e:  # report, keep serving
            import traceback
            out = {"error": repr(e), "trace": traceback.format_exc()}
        sys.stdout.write(json.dumps(out) + "\n")
        sys.stdout.flush()


if __name__ == "__main__":
    main()
