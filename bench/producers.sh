#!/usr/bin/env bash
# What idempotence and transactions cost the broker, in one run (bench/README.md):
#   pairs of closed-loop `shoal bench produce` runs, plain then idempotent (the order
#   alternates from pair to pair), each reporting MB/s and the broker's CPU seconds per GB
#   produced (its utime + stime from /proc over the run), and the idempotent/plain ratios;
#   then transactional runs of 100 and of 10,000 records per transaction: records/s and the
#   EndTxn latency.
# Usage: bench/producers.sh [seconds per run] [pairs]   (data under ${BENCH_DIR:-target/bench};
# BENCH_FLAGS replaces the load shape given to every run)
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-10}
pairs=${2:-3}
dir=${BENCH_DIR:-target/bench}
flags=${BENCH_FLAGS:---producers 2 --partitions 16 --batch-size 262144 --in-flight 5 --linger-ms 1}
command -v jq >/dev/null || { apt-get update -qq && apt-get install -y -qq jq >/dev/null; }
cargo build --release --quiet --bin shoal
shoal=target/release/shoal
rm -rf "$dir" && mkdir -p "$dir/data" "$dir/reports"

"$shoal" serve --override listeners=PLAINTEXT://127.0.0.1:0 --override log.dirs="$dir/data" \
  --override metrics.port=0 >"$dir/broker.log" 2>&1 &
broker=$!
trap 'kill "$broker" 2>/dev/null || true' EXIT
until grep -q "shoal ready" "$dir/broker.log"; do kill -0 "$broker" || exit 1; sleep 0.1; done
address=$(sed -n 's/^shoal ready: listening on //p' "$dir/broker.log")
ticks=$(getconf CLK_TCK)
cpu() { awk -v t="$ticks" '{print ($14 + $15) / t}' "/proc/$broker/stat"; }

run=0
produce() { # MODE FLAGS...: one run on a topic of its own; prints "MB/s s/GB" of the broker
  local mode=$1; shift
  run=$((run + 1))
  local topic="bench-$run" report="$dir/reports/$run-$mode.json" before after
  before=$(cpu)
  # shellcheck disable=SC2086
  "$shoal" bench produce --bootstrap-server "$address" --topic "$topic" --duration "$seconds" \
    --json "$report" $flags "$@" >/dev/null 2>&1
  after=$(cpu)
  "$shoal" topics --bootstrap-server "$address" --delete --topic "$topic" >/dev/null
  jq -r --arg cpu "$(awk -v a="$after" -v b="$before" 'BEGIN {print a - b}')" \
    '"\(.produce.mb_per_s) \(($cpu | tonumber) / (.produce.bytes / 1e9))"' "$report"
}

printf '%-6s %-11s %10s %12s\n' pair producer "MB/s" "broker s/GB"
declare -a ratio_mb ratio_cpu
for pair in $(seq 1 "$pairs"); do
  order="plain idempotent"
  [ $((pair % 2)) -eq 0 ] && order="idempotent plain"
  declare -A got=()
  for mode in $order; do
    extra=()
    [ "$mode" = idempotent ] && extra=(--idempotent)
    got[$mode]=$(produce "$mode" "${extra[@]}")
    read -r mb spg <<<"${got[$mode]}"
    printf '%-6s %-11s %10.1f %12.3f\n' "$pair" "$mode" "$mb" "$spg"
  done
  read -r pmb pspg <<<"${got[plain]}"
  read -r imb ispg <<<"${got[idempotent]}"
  ratio_mb+=("$(awk -v a="$imb" -v b="$pmb" 'BEGIN {print a / b}')")
  ratio_cpu+=("$(awk -v a="$ispg" -v b="$pspg" 'BEGIN {print a / b}')")
done
echo "idempotent/plain, per pair: MB/s $(printf '%.3f ' "${ratio_mb[@]}")| broker s/GB $(printf '%.3f ' "${ratio_cpu[@]}")"

printf '\n%-22s %12s %10s %14s %14s\n' transactions "records/s" "MB/s" "commit p50 ms" "commit p99 ms"
for size in 100 10000; do
  run=$((run + 1))
  report="$dir/reports/$run-txn-$size.json"
  # shellcheck disable=SC2086
  "$shoal" bench produce --bootstrap-server "$address" --topic "bench-$run" --duration "$seconds" \
    --json "$report" $flags --transactional "$size" >/dev/null 2>&1
  jq -r --arg n "$size" '"\($n) records each      \(.produce.records_per_s | floor) \(.produce.mb_per_s) \(.transactions.commit_latency.p50_ms) \(.transactions.commit_latency.p99_ms)"' "$report" |
    awk '{printf "%-22s %12s %10.1f %14.3f %14.3f\n", $1 " " $2 " " $3, $4, $5, $6, $7}'
done
