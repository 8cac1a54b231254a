#!/bin/sh
# Creates (idempotently) the two Python virtual environments the interop tests
# run their Flask peers in, and prints nothing but errors.
#
#   flask   : Flask 3.1 (itsdangerous 2.2)          -> Flask's signed cookie
#   fsp     : flask-session-plus 0.6.2 on Flask 2.0.3 -> its secure_cookie and Redis records
#             (0.6.2 imports flask.helpers.total_seconds, removed in Flask 2.1)
#
# Usage: setup_venv.sh DIR   (DIR/flask and DIR/fsp are created)
set -eu
DIR="${1:?usage: setup_venv.sh DIR}"
PY="${PYTHON:-python3}"
if ! command -v "$PY" >/dev/null 2>&1; then
    echo "python3 not found: install it (Debian: apt-get install python3 python3-venv python3-pip)" >&2
    exit 2
fi
mkdir -p "$DIR"
# Several test binaries may call this at once: one at a time.
if command -v flock >/dev/null 2>&1; then
    exec 9>"$DIR/.lock"
    flock 9
fi

make_venv() {
    name="$1"; shift
    stamp="$DIR/$name/.ready"
    want="$*"
    if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
        return 0
    fi
    rm -rf "$DIR/$name"
    if ! "$PY" -m venv "$DIR/$name"; then
        echo "python3 -m venv failed: install venv support (Debian: apt-get install python3-venv)" >&2
        exit 2
    fi
    if ! "$DIR/$name/bin/python" -m pip install --quiet --disable-pip-version-check "$@"; then
        echo "pip install $* failed: check network access to PyPI" >&2
        exit 3
    fi
    printf '%s' "$want" > "$stamp"
}

make_venv flask "Flask==3.1.*"
make_venv fsp "flask-session-plus==0.6.2" "Flask==2.0.3" "Werkzeug==2.0.3" "itsdangerous==2.0.1" "Jinja2==3.0.3" "MarkupSafe==2.0.1" "redis==5.0.*" "pytz"
