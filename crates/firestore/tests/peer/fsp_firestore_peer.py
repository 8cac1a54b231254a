"""flask-session-plus 0.6.2 `firestore` peer for the session-plus interop tests.

Reads one JSON command per line on stdin, answers one JSON line on stdout.
Requests go through `app.test_client()` to a route using `flask.session`, so
documents are opened and saved by flask-session-plus's own
`FirestoreSessionInterface` with Google's `google.cloud.firestore.Client`
(which talks to the emulator named by FIRESTORE_EMULATOR_HOST). Nothing of
flask-session-plus is patched.

Values travel as Flask TaggedJSON text (bytes as {" b": ...}, datetimes as
{" d": ...}) and become real Python objects through Flask's serializer.

Commands:
  {"op": "config", "secret_key": str, "project": str, "collection": str,
   "fields": [str], "key_prefix": str|null}
  (an explicit field list: flask-session-plus 0.6.2 never marks an interface
  with `[]` (all fields) modified, so it would never write; interop spec
  section 4, item 2)
  {"op": "request", "cookies": {name: value}, "set": tagged-json-text|null,
   "remove": [str], "permanent": bool|null}
    -> {"cookies": {name: value}, "session": tagged-json-text,
        "permanent": bool, "types": {field: type name}}
"""
import json
import sys

from flask import Flask, session
from flask.json.tag import TaggedJSONSerializer
from flask_session_plus import Session
from google.cloud import firestore

SER = TaggedJSONSerializer()
app = None
PENDING = {}


def make_app(cmd):
    a = Flask(__name__)
    a.secret_key = cmd["secret_key"]
    interface = {
        "cookie_name": "session",
        "session_type": "firestore",
        "session_fields": cmd["fields"],
        "client": firestore.Client(project=cmd["project"]),
        "collection": cmd["collection"],
    }
    if cmd.get("key_prefix") is not None:
        interface["key_prefix"] = cmd["key_prefix"]
    a.config["SESSION_CONFIG"] = [interface]
    Session(a)

    @a.route("/", methods=["POST"])
    def op():
        p = PENDING
        if p.get("set"):
            session.update(SER.loads(p["set"]))
        for k in p.get("remove") or []:
            session.pop(k, None)
        if p.get("permanent") is not None:
            session.set_permanent("session", remove=not p["permanent"])
        d = dict(session)
        return {
            "session": SER.dumps(d),
            "permanent": bool(session.is_permanent("session")),
            "types": {k: type(v).__name__ for k, v in d.items()},
        }

    return a


def request(cmd):
    global PENDING
    PENDING = cmd
    cookies = cmd.get("cookies") or {}
    headers = {}
    if cookies:
        headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in cookies.items())
    client = app.test_client(use_cookies=False)
    resp = client.post("/", headers=headers)
    out = resp.get_json()
    out["cookies"] = {}
    for h in resp.headers.getlist("Set-Cookie"):
        cname, _, rest = h.partition("=")
        out["cookies"][cname] = rest.split(";", 1)[0]
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
