"""The flask-session-plus 0.6.2 peer of the load benchmark (issue #5).

The seed configuration on Redis: `csrf` (secure_cookie, `csrf_token`),
`session` (Redis, `counter` and `user_id`), `data` (secure_cookie, "auto").
Same three routes as the Rust servers: /none, /read, /write.

Run (bench/run.sh does it):
    BENCH_REDIS_URL=redis://127.0.0.1:PORT gunicorn -w 2 -b 127.0.0.1:PORT \
        --chdir bench/flask app:app

THE PATCH. flask-session-plus 0.6.2 never stores anything in Redis (bug 1 of
shared/spec/flask-interop.md section 4): RedisSessionInterface.save_session
calls `self.client.setex(name=..., value=..., time=total_seconds(expires))`
where `expires` is a *datetime* (now + lifetime, from get_expiration_time),
but `total_seconds` (imported by name from flask.helpers into
flask_session_plus.backends) expects a *timedelta*; it raises
AttributeError ('datetime.datetime' object has no attribute 'days'), which
save_session catches and only logs, so SETEX never runs.

We fix it without touching the installed package: we rebind the module
global `flask_session_plus.backends.total_seconds` (save_session looks the
name up in that module at call time) to `_ttl_seconds` below, which accepts
the datetime and returns the seconds left until it (and still accepts a
timedelta, as memcache's path may pass either). Nothing else is changed:
every other behaviour, including the extra GET on every request and the
Set-Cookie on every response, is the package's own.
"""

import datetime
import os

import redis
from flask import Flask, session

import flask_session_plus.backends as fsp_backends
from flask_session_plus import Session


def _ttl_seconds(value):
    """Seconds until `value` (a naive-UTC datetime, as the package makes with
    datetime.utcnow()), or in `value` (a timedelta); at least 1."""
    if isinstance(value, datetime.datetime):
        value = value - datetime.datetime.utcnow()
    return max(1, int(value.total_seconds()))


fsp_backends.total_seconds = _ttl_seconds

app = Flask(__name__)
app.secret_key = os.environ.get("BENCH_SECRET_KEY", "load-bench-secret-key-not-for-production")
app.config["SESSION_CONFIG"] = [
    {
        "cookie_name": "csrf",
        "session_type": "secure_cookie",
        "session_fields": ["csrf_token"],
    },
    {
        "cookie_name": "session",
        "session_type": "redis",
        "session_fields": ["counter", "user_id"],
        "client": redis.Redis.from_url(os.environ["BENCH_REDIS_URL"]),
    },
    {
        "cookie_name": "data",
        "session_type": "secure_cookie",
        "session_fields": "auto",
    },
]
Session(app)


@app.get("/none")
def none():
    return "none"


@app.get("/read")
def read():
    return str(session.get("counter", 0))


@app.get("/write")
def write():
    n = session.get("counter", 0) + 1
    session["counter"] = n
    return str(n)
