#!/bin/sh
# Instructions per request of the session layers, from `layer-cost` under
# callgrind: deterministic, so usable on a busy machine where wall-clock
# benchmarks are noise. Each (server, route) is run twice, with N and 2N
# iterations; the difference divided by the extra requests (1.1 N: layer-cost
# warms up with a tenth of the iterations first) cancels the setup.
#
#   bench/layer-cost-ir.sh                          # sp-cookie and baseline, every route
#   bench/layer-cost-ir.sh sp-cookie,sp-redis redis://127.0.0.1:6379
#   LAYER_COST_OUTER=1 bench/layer-cost-ir.sh sp-cookie     # /none, layer around the Router
#   LAYER_COST_OUTER=bare bench/layer-cost-ir.sh sp-cookie  # the same Router without it
#   LAYER_COST_SCALE=interfaces=10 bench/layer-cost-ir.sh scale  # N cookie interfaces (or fields=N)
#   IR_N=1000 IR_BIN=target/release/layer-cost bench/layer-cost-ir.sh
#
# Other LAYER_COST_* variables are passed through (see layer-cost's docs).
# Needs valgrind (apt-get install valgrind). Prints a Markdown table.
set -eu
cd "$(dirname "$0")/.."
KINDS="${1:-baseline,sp-cookie}"
URL="${2:-}"
N="${IR_N:-2000}"
BIN="${IR_BIN:-${CARGO_TARGET_DIR:-target}/release/layer-cost}"
if [ -z "${IR_BIN:-}" ]; then
    cargo build --release --quiet -p session-plus-load --bin layer-cost
fi
command -v valgrind >/dev/null 2>&1 || {
    echo "bench/layer-cost-ir.sh: needs valgrind (apt-get install valgrind)" >&2
    exit 1
}
ir() { # iterations kind route -> total instructions
    LAYER_COST_ONLY="$2" LAYER_COST_ROUTES="$3" valgrind --tool=callgrind \
        --callgrind-out-file=/dev/null "$BIN" "$1" $URL 2>&1 >/dev/null |
        sed -n 's/.*Collected : \([0-9]*\).*/\1/p'
}
echo "| server | route | instructions/request |"
echo "|---|---|--:|"
routes="${IR_ROUTES:-/none /read /write}"
if [ -n "${LAYER_COST_OUTER:-}" ]; then routes="/none"; fi
for kind in $(echo "$KINDS" | tr ',' ' '); do
    for route in $routes; do
        a=$(ir "$N" "$kind" "$route")
        b=$(ir $((2 * N)) "$kind" "$route")
        per=$(( (b - a) * 10 / (11 * N) ))
        label="$kind"
        [ -n "${LAYER_COST_SCALE:-}" ] && label="$LAYER_COST_SCALE"
        case "${LAYER_COST_OUTER:-}" in
            "") ;;
            bare) label="same Router, no layer" ;;
            *) label="$kind, layer around the Router" ;;
        esac
        echo "| $label | \`$route\` | $per |"
    done
done
