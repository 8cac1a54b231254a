#!/bin/sh
# Creates (idempotently) the Python virtual environment the Firestore interop
# tests run their flask-session-plus peer in, and prints nothing but errors.
#
#   fsp-firestore : flask-session-plus 0.6.2 on Flask 2.0.3 (0.6.2 imports
#                   flask.helpers.total_seconds, removed in Flask 2.1) with
#                   Google's google-cloud-firestore client, which talks to
#                   the emulator named by FIRESTORE_EMULATOR_HOST.
#
# Usage: setup_venv.sh DIR   (DIR/fsp-firestore is created)
set -eu
DIR="${1:?usage: setup_venv.sh DIR}"
PY="${PYTHON:-python3}"
if ! command -v "$PY" >/dev/null 2>&1; then
    echo "python3 not found: install it (Debian: apt-get install python3 python3-venv python3-pip)" >&2
    exit 2
fi
mkdir -p "$DIR"
# Several test processes may call this at once: one at a time.
if command -v flock >/dev/null 2>&1; then
    exec 9>"$DIR/.lock-firestore"
    flock 9
fi
name=fsp-firestore
want="flask-session-plus==0.6.2 Flask==2.0.3 Werkzeug==2.0.3 itsdangerous==2.0.1 Jinja2==3.0.3 MarkupSafe==2.0.1 google-cloud-firestore==2.* pytz"
stamp="$DIR/$name/.ready"
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
    exit 0
fi
rm -rf "$DIR/$name"
if ! "$PY" -m venv "$DIR/$name"; then
    echo "python3 -m venv failed: install venv support (Debian: apt-get install python3-venv)" >&2
    exit 2
fi
# shellcheck disable=SC2086
if ! "$DIR/$name/bin/python" -m pip install --quiet --disable-pip-version-check $want; then
    echo "pip install $want failed: check network access to PyPI" >&2
    exit 3
fi
printf '%s' "$want" > "$stamp"
