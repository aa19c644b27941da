#!/usr/bin/env bash
# Produce and fetch throughput of shoal against the machine's own limits, in one run:
#   produce MB/s (1 KiB records, acks=all, fsync on)  vs  fio sequential write with fdatasync
#   fetch MB/s from a warm log                         vs  iperf3 over loopback
# Usage: bench/run.sh [seconds]   (data goes under ${BENCH_DIR:-target/bench}, on the disk being measured)
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-10}
dir=${BENCH_DIR:-target/bench}
need=()
command -v fio >/dev/null || need+=(fio)
command -v iperf3 >/dev/null || need+=(iperf3)
command -v jq >/dev/null || need+=(jq)
if [ ${#need[@]} -gt 0 ]; then
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
fi
cargo build --release --quiet --bin shoal --bench produce_fetch
rm -rf "$dir" && mkdir -p "$dir/fio" "$dir/data"

echo "fio: sequential 1 MiB writes, io_uring, O_DIRECT, fdatasync after each" >&2
fio_json=$(fio --name=seq --directory="$dir/fio" --ioengine=io_uring --direct=1 --bs=1M --rw=write \
  --fdatasync=1 --size=1G --runtime="$seconds" --time_based --output-format=json)
fio_mb=$(jq '.jobs[0].write.bw_bytes / 1e6' <<<"$fio_json")
rm -rf "$dir/fio"

echo "iperf3: loopback TCP" >&2
iperf3 -s -1 -p 5201 >/dev/null 2>&1 &
iperf_pid=$!
until iperf3_json=$(iperf3 -c 127.0.0.1 -p 5201 -t "$seconds" -J 2>/dev/null); do :; done
wait "$iperf_pid" || true
iperf_mb=$(jq '.end.sum_received.bits_per_second / 8 / 1e6' <<<"$iperf3_json")

echo "shoal: produce then fetch" >&2
./target/release/shoal serve --override listeners=PLAINTEXT://127.0.0.1:0 --override metrics.port=0 \
  --override log.dirs="$dir/data" >"$dir/broker.out" 2>"$dir/broker.err" &
broker=$!
trap 'kill "$broker" 2>/dev/null || true' EXIT
until grep -q '^shoal ready' "$dir/broker.out"; do kill -0 "$broker" || { cat "$dir/broker.err"; exit 1; }; done
address=$(sed -n 's/^shoal ready: listening on //p' "$dir/broker.out")
result=$(cargo bench --quiet --bench produce_fetch -- --bootstrap "$address" --seconds "$seconds" | tail -n 1)
kill -TERM "$broker"; wait "$broker" || true

produce_mb=$(jq '.produce_mb_per_s' <<<"$result")
fetch_mb=$(jq '.fetch_mb_per_s' <<<"$result")
jq -n --argjson fio "$fio_mb" --argjson iperf "$iperf_mb" --argjson p "$produce_mb" --argjson f "$fetch_mb" \
  --argjson run "$result" --arg cores "$(nproc)" --arg kernel "$(uname -r)" '{
    machine: {cores: $cores, kernel: $kernel},
    fio_fdatasync_mb_per_s: $fio, iperf3_loopback_mb_per_s: $iperf,
    shoal: $run,
    produce_over_fio: ($p / $fio), fetch_over_iperf3: ($f / $iperf)}'
