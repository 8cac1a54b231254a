"""flask-session-plus 0.6.2 peer (Flask 2.0.3) for the session-plus interop tests.

Reads one JSON command per line on stdin, answers one JSON line on stdout.
Requests go through `app.test_client()` to a route using `flask.session`, so
cookies and Redis records are opened and saved by flask-session-plus's own
`MultiSessionInterface` (`secure_cookie` and `redis` backends, `use_signer`).

Values travel as Flask TaggedJSON text and become real Python objects through
Flask's serializer.

Two things are patched, nothing else:

1. The Redis write bug (interop spec section 4, item 1). `RedisSessionInterface
   .save_session` calls `total_seconds(expires)` where `expires` is a datetime
   (`get_expiration_time` returns `utcnow() + lifetime`); `total_seconds`
   (imported into `flask_session_plus.backends` from `flask.helpers`) expects
   a timedelta, raises, and the exception is only logged, so nothing is ever
   stored. We rebind `flask_session_plus.backends.total_seconds` to a function
   that accepts a datetime and returns the seconds from now to it, rounded
   (i.e. the lifetime the package meant: 1 day, or 31 days when permanent);
   for a timedelta it behaves like the original.
2. The clock of itsdangerous (`TimestampSigner.get_timestamp`) returns the
   command's `now` when one is given, so expiry is tested without waiting.

Commands:
  {"op": "config", "secret_key": str, "interfaces": [SESSION_CONFIG entries;
     "redis_url" instead of "client" for redis ones]}
  {"op": "request", "cookies": {name: value}, "now": int|null,
   "set": tagged-json-text|null, "remove": [str], "permanent": {name: bool}, "clear": bool}
    -> {"cookies": {name: value ("" = deleted)}, "session": tagged-json-text,
        "permanent": {name: bool}, "types": {field: type}}
"""
import json
import sys
from datetime import datetime, timedelta


import itsdangerous.timed
import redis
from flask import Flask, session

import flask_session_plus.backends as fsp_backends
from flask_session_plus import Session
from flask.json.tag import TaggedJSONSerializer

_original_total_seconds = fsp_backends.total_seconds


def _patched_total_seconds(value):
    if isinstance(value, datetime):
        return int(round((value - datetime.utcnow()).total_seconds()))
    return _original_total_seconds(value)


fsp_backends.total_seconds = _patched_total_seconds  # patch 1 (see docstring)

NOW = None
_real_get_timestamp = itsdangerous.timed.TimestampSigner.get_timestamp


def _get_timestamp(self):
    return NOW if NOW is not None else _real_get_timestamp(self)


itsdangerous.timed.TimestampSigner.get_timestamp = _get_timestamp  # patch 2

SER = TaggedJSONSerializer()
app = None
NAMES = []
PENDING = {}


def make_app(cmd):
    global NAMES
    a = Flask(__name__)
    a.secret_key = cmd["secret_key"]
    config = []
    for i in cmd["interfaces"]:
        i = dict(i)
        url = i.pop("redis_url", None)
        if url is not None:
            i["client"] = redis.Redis.from_url(url)
        config.append(i)
    NAMES = [i["cookie_name"] for i in config]
    a.config["SESSION_CONFIG"] = config
    Session(a)

    @a.route("/", methods=["POST"])
    def op():
        p = PENDING
        if p.get("clear"):
            session.clear()
        if p.get("set"):
            session.update(SER.loads(p["set"]))
        for k in p.get("remove") or []:
            session.pop(k, None)
        for name, perm in (p.get("permanent") or {}).items():
            session.set_permanent(name, remove=not perm)
        d = dict(session)
        return {
            "session": SER.dumps(d),
            "permanent": {n: session.is_permanent(n) for n in NAMES},
            "types": {k: type(v).__name__ for k, v in d.items()},
        }

    return a


def request(cmd):
    global NOW, PENDING
    NOW = cmd.get("now")
    PENDING = cmd
    cookies = cmd.get("cookies") or {}
    headers = {}
    if cookies:
        headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in cookies.items())
    client = app.test_client(use_cookies=False)
    resp = client.post("/", headers=headers)
    out = resp.get_json()
    out["cookies"] = {}
    out["set_cookies"] = resp.headers.getlist("Set-Cookie")
    for h in out["set_cookies"]:
        cname, _, rest = h.partition("=")
        value = rest.split(";", 1)[0]
        out["cookies"][cname] = "" if "Expires=Thu, 01-Jan-1970" in h or "Expires=Thu, 01 Jan 1970" in h else value
    return out


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
            else:
                out = {"error": f"unknown op {cmd['op']}"}
        except Exception as e:
            import traceback
            out = {"error": repr(e), "trace": traceback.format_exc()}
        sys.stdout.write(json.dumps(out) + "\n")
        sys.stdout.flush()


if __name__ == "__main__":
    main()
