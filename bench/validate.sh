#!/usr/bin/env bash
# Benchmark `sgops validate` on a generated repository of 10,000 rules in 200 files.
#
# Usage: bench/validate.sh [SGOPS_BINARY]
#   SGOPS_BINARY defaults to $CARGO_TARGET_DIR/release/sgops (target/release/sgops without
#   CARGO_TARGET_DIR). Build it first: cargo build --release.
#
# Prints the wall time and peak resident memory that /usr/bin/time -v reports. The repository
# is generated under a temporary directory that is removed on exit; set KEEP=1 to keep it.
# The mix is what a large organisation might have: 10 accounts x 4 regions x 5 groups,
# 50 rules per group, tcp/udp/icmp/all, ports and ranges, IPv4/IPv6 CIDRs, prefix lists and
# security groups as peers, some with expiry dates and tags.
set -euo pipefail

BIN="${1:-${CARGO_TARGET_DIR:-target}/release/sgops}"
FILES=200
RULES_PER_FILE=50
TODAY=2026-11-27

if [[ ! -x "$BIN" ]]; then
    echo "sgops binary not found at $BIN: build it (cargo build --release) or pass its path" >&2
    exit 1
fi
BIN="$(cd "$(dirname "$BIN")" && pwd)/$(basename "$BIN")"

if [[ ! -x /usr/bin/time ]]; then
    if [[ "$(id -u)" == 0 ]] && command -v apt-get >/dev/null; then
        echo "installing GNU time (/usr/bin/time) with apt-get" >&2
        apt-get update -qq >&2 && apt-get install -y -qq time >&2
    else
        echo "GNU time is missing: install it (apt-get install time)" >&2
        exit 1
    fi
fi

DIR="$(mktemp -d "${TMPDIR:-/tmp}/sgops-bench.XXXXXX")"
if [[ "${KEEP:-}" == 1 ]]; then
    echo "repository kept in $DIR" >&2
else
    trap 'rm -rf "$DIR"' EXIT
fi

accounts=(itx-001 itx-002 itx-003 itx-004 itx-005 itx-006 itx-007 itx-008 itx-009 itx-010)
regions=(us-east-1 us-west-2 eu-central-1 ap-southeast-2)

{
    echo "allowlist:"
    echo "  parameter_prefix: /vpcx/aws/boto3-proxy/allowed-actions/"
    echo "  region: us-east-1"
    echo "role_name: sgops-reconciler"
    echo "accounts:"
    n=0
    for a in "${accounts[@]}"; do
        n=$((n + 1))
        printf '  %s: "%012d"\n' "$a" "$((100000000000 + n))"
    done
    echo "rule_tags:"
    echo "  vpcx:skip_enforcement: \"yes\""
    echo "guardrails:"
    echo "  world_open_denied_ports: [22, 3389]"
    echo "  max_expiry_days: 366"
} > "$DIR/sgops.yaml"

# One awk run writes every rule file: file f (0-based) is group number f.
file=0
for a in "${accounts[@]}"; do
    for r in "${regions[@]}"; do
        mkdir -p "$DIR/rules/$a/$r"
        for g in 1 2 3 4 5; do
            echo "$DIR/rules/$a/$r/app-$g.yaml $file"
            file=$((file + 1))
        done
    done
done | awk -v per="$RULES_PER_FILE" '
{
    path = $1; f = $2
    printf "# yaml-language-server: $schema=../../../schema/rule-file.json\n" > path
    printf "security_group: sg-%017x\n", 1000000 + f > path
    printf "rules:\n" > path
    for (i = 0; i < per; i++) {
        kind = i % 10
        printf "  - id: rule-%03d-%02d\n", f, i > path
        printf "    direction: %s\n", (kind == 9 ? "egress" : "ingress") > path
        if (kind <= 3) {            # tcp, single port or range
            printf "    protocol: tcp\n" > path
            if (kind % 2 == 0) printf "    ports: %d\n", 8000 + i > path
            else printf "    ports: \"%d-%d\"\n", 9000 + i * 10, 9000 + i * 10 + 9 > path
        } else if (kind <= 5) {     # udp
            printf "    protocol: udp\n" > path
            printf "    ports: %d\n", 5000 + i > path
        } else if (kind == 6) {     # icmp
            printf "    protocol: icmp\n" > path
            printf "    ports: { type: 8, code: %d }\n", i % 16 > path
        } else if (kind == 7) {     # a numbered protocol (GRE)
            printf "    protocol: 47\n" > path
        } else {                    # all
            printf "    protocol: all\n" > path
        }
        peer = i % 4
        if (kind == 7 || kind >= 8) peer = 0
        if (peer == 0) printf "    cidr: 10.%d.%d.0/24\n", int(f / 4), (f % 4) * 50 + i > path
        else if (peer == 1) printf "    cidr_ipv6: 2001:db8:%x:%x::/64\n", f, i > path
        else if (peer == 2) printf "    prefix_list: pl-%08x\n", 4096 + i > path
        else printf "    security_group: sg-%08x\n", 65536 + f * 100 + i > path
        printf "    description: Service %d of group %d (CHG-%d)\n", i, f, 10000 + f > path
        printf "    ticket: CHG-%d\n", 10000 + f * 100 + i > path
        if (i % 5 == 0) printf "    expires: 2027-%02d-%02d\n", 1 + i % 10, 1 + i % 28 > path
        if (i % 3 == 0) printf "    tags: { team: team-%d, cost-center: \"%d\" }\n", f % 7, 4000 + f > path
        printf "\n" > path
    }
    close(path)
}'

count=$(find "$DIR/rules" -name '*.yaml' | wc -l)
echo "generated $count files, $((count * RULES_PER_FILE)) rules, $(du -sh "$DIR/rules" | cut -f1) in $DIR/rules" >&2

cd "$DIR"
set +e
SGOPS_TODAY="$TODAY" /usr/bin/time -v -o "$DIR/time.txt" "$BIN" validate 2> "$DIR/stderr.txt"
code=$?
set -e
if [[ $code != 0 ]]; then
    echo "sgops validate exited $code on the generated repository:" >&2
    head -40 "$DIR/stderr.txt" >&2
    exit 1
fi
tail -1 "$DIR/stderr.txt"
wall=$(sed -n 's/.*Elapsed (wall clock) time (h:mm:ss or m:ss): //p' "$DIR/time.txt")
rss=$(sed -n 's/.*Maximum resident set size (kbytes): //p' "$DIR/time.txt")
echo "binary:    $BIN"
echo "wall time: $wall"
echo "peak RSS:  $rss KiB ($((rss / 1024)) MiB)"
