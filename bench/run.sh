#!/bin/sh
# Load benchmark of session-plus against its peers (issue #5): installs what
# it needs, builds the servers in release mode, runs each one under wrk, and
# writes BENCHMARKS.md (between its markers), bench-chart.svg and
# target/bench/results.json. Prints the tables at the end.
#
#   bench/run.sh                 # everything, best of 2 rounds, then connection scaling
#   bench/run.sh --rounds 1      # one round
#   bench/run.sh --only baseline,sp-redis --duration 2 --no-scaling
#   bench/run.sh --scaling-only  # only the connection-scaling section
#   bench/run.sh --help          # every option of the driver
#
# Needs: cargo, python3 with venv, and (installed here with apt-get when
# missing, as root) wrk, redis-server, memcached, taskset. sp-mongodb runs on
# SecantusDB, which the test kit installs from PyPI into
# target/tmp/secantusdb-* on first use; sp-firestore needs Google's Firestore
# emulator (google-cloud-cli-firestore-emulator and a JRE, from Google
# Cloud's Debian repository: not installed here).
set -eu
cd "$(dirname "$0")/.."
TARGET="${CARGO_TARGET_DIR:-target}"

need_apt=""
command -v wrk >/dev/null 2>&1 || need_apt="$need_apt wrk"
command -v redis-server >/dev/null 2>&1 || need_apt="$need_apt redis-server"
command -v memcached >/dev/null 2>&1 || need_apt="$need_apt memcached"
command -v taskset >/dev/null 2>&1 || need_apt="$need_apt util-linux"
command -v python3 >/dev/null 2>&1 || need_apt="$need_apt python3 python3-venv python3-pip"
if [ -n "$need_apt" ]; then
    echo "bench/run.sh: installing$need_apt" >&2
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $need_apt >&2
fi

# The Flask peer's venv, rebuilt only when bench/flask/requirements.txt changes.
VENV="$TARGET/bench-venv"
WANT="$(cksum < bench/flask/requirements.txt)"
if [ ! -f "$VENV/.ready" ] || [ "$(cat "$VENV/.ready")" != "$WANT" ]; then
    echo "bench/run.sh: creating $VENV" >&2
    rm -rf "$VENV"
    if ! python3 -m venv "$VENV" 2>/dev/null; then
        apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv python3-pip >&2
        python3 -m venv "$VENV"
    fi
    "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check -r bench/flask/requirements.txt
    printf '%s' "$WANT" > "$VENV/.ready"
fi

cargo build --release --quiet -p session-plus-load --bins
exec "$TARGET/release/load-bench" --venv "$VENV" --server-bin "$TARGET/release/load-server" "$@"
