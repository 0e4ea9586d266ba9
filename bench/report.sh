#!/usr/bin/env bash
# Benchmark `sgops report` offline on validate's generated repository (10,000 rules in 200
# files), with a CODEOWNERS of 42 lines, in every format and with --expiring-within, next to
# `sgops validate` on the same repository (the load both share).
#
# Usage: bench/report.sh [SGOPS_BINARY]   (default: $CARGO_TARGET_DIR/release/sgops)
# Prints wall time and peak resident memory per format (GNU time), median of RUNS (default 5).
set -euo pipefail
cd "$(dirname "$0")/.."
BIN="${1:-${CARGO_TARGET_DIR:-target}/release/sgops}"
RUNS="${RUNS:-5}"
BIN="$(cd "$(dirname "$BIN")" && pwd)/$(basename "$BIN")"

# validate.sh generates the repository (and checks it is valid); KEEP=1 leaves it for us.
log="$(mktemp)"
KEEP=1 bench/validate.sh "$BIN" > /dev/null 2> "$log"
DIR="$(sed -n 's/^repository kept in //p' "$log")"
rm -f "$log"
[[ -d "$DIR" ]] || { echo "no generated repository" >&2; exit 1; }
trap 'rm -rf "$DIR"' EXIT

# Owners: a default, a team per account, a person per region of some accounts, an email.
{
    echo "* @org/platform"
    echo "rules/ @org/secops"
    for a in 01 02 03 04 05 06 07 08 09 10; do
        echo "rules/itx-0$a/ @org/team-$a lead-$a@example.com"
        for r in us-east-1 us-west-2 eu-central-1 ap-southeast-2; do
            echo "/rules/itx-0$a/$r/app-1.yaml @owner-$a-$r"
        done
    done
} > "$DIR/CODEOWNERS"

cd "$DIR"
measure() {
    local name=$1; shift
    local walls=() rss=0
    for _ in $(seq "$RUNS"); do
        SGOPS_TODAY=2026-11-27 AWS_ENDPOINT_URL=http://127.0.0.1:9 /usr/bin/time -v -o time.txt \
            "$BIN" "$@" > out.txt 2> err.txt || { cat err.txt >&2; exit 1; }
        walls+=("$(sed -n 's/.*Elapsed (wall clock) time (h:mm:ss or m:ss): //p' time.txt)")
        r=$(sed -n 's/.*Maximum resident set size (kbytes): //p' time.txt)
        (( r > rss )) && rss=$r
    done
    med=$(printf '%s\n' "${walls[@]}" | sort | sed -n "$(( (RUNS + 1) / 2 ))p")
    printf '%-34s median %s  peak RSS %d MiB  output %s bytes, %s lines\n' \
        "$name" "$med" $((rss / 1024)) "$(wc -c < out.txt)" "$(wc -l < out.txt)"
}
echo "binary: $BIN; $RUNS runs each; AWS endpoint a closed port (offline); load $(cut -d' ' -f1-3 /proc/loadavg)"
measure "validate (for comparison)" validate
measure "report (text)" report
measure "report --format json" report --format json
measure "report --format csv" report --format csv
measure "report --format markdown" report --format markdown
measure "report --expiring-within 30 (text)" report --expiring-within 30
measure "report --expiring-within 90 --mention-owners" report --expiring-within 90 --format markdown --mention-owners
