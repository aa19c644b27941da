#!/usr/bin/env bash
# shoal against the machine's own limits, in one run (bench/README.md explains the output):
#   fio: sequential 1 MiB O_DIRECT writes with fdatasync after each -> MB/s and fdatasync p99
#   fio: the same writes through the page cache, the broker's own write path -> the same
#   iperf3: loopback TCP -> MB/s
#   shoal bench produce, acks=all, 1 KiB records, closed loop  -> max MB/s, ack p99
#   shoal bench produce at half that rate (open loop)          -> ack p99, request p99
#   shoal bench end-to-end, closed loop, then at half its rate -> end-to-end p99
#   (each run's topic is deleted before the next starts, as fio removes its file)
#   the produce_fetch bench: fetch MB/s from a warm log
# and prints the ratios: produce MB/s / fio MB/s, half-load ack p99 / fdatasync p99, against
# each of the two fio runs, and the broker's own fdatasyncs during the half-load run (with
# the ack p99 over their p99); the same for the half-load request p99 (written to answered,
# without the producer's linger) against buffered fio and the broker's own syncs.
# Usage: bench/run.sh [seconds]   (data goes under ${BENCH_DIR:-target/bench}, on the disk
# being measured; BENCH_FLAGS replaces the load shape given to every `shoal bench` run)
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-10}
dir=${BENCH_DIR:-target/bench}
# Enough concurrency and batching for the closed loop to find the broker's limit, and a
# short linger so half-load latency is mostly the broker's.
flags=${BENCH_FLAGS:---producers 2 --partitions 16 --batch-size 262144 --in-flight 16 --linger-ms 1}
need=()
command -v fio >/dev/null || need+=(fio)
command -v iperf3 >/dev/null || need+=(iperf3)
command -v jq >/dev/null || need+=(jq)
command -v curl >/dev/null || need+=(curl)
if [ ${#need[@]} -gt 0 ]; then
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
fi
cargo build --release --quiet --bin shoal --bench produce_fetch
rm -rf "$dir" && mkdir -p "$dir/fio" "$dir/data" "$dir/reports"

# fio writes for as long as a broker run, into as much new page cache as the broker does
# (a short run reuses the pages the last one freed, which is far cheaper on a VM: see the
# README), up to half the free space.
fio_size_mb=$(( $(df -Pm "$dir" | awk 'NR == 2 {print $4}') / 2 ))
fio_run() { # DIRECT: 1 MiB sequential writes, fdatasync after each; prints fio's JSON
  rm -f "$dir/fio/file"
  fio --name=w --filename="$dir/fio/file" --ioengine=io_uring --direct="$1" --bs=1M --rw=write \
    --size="${fio_size_mb}M" --runtime="$seconds" --fdatasync=1 --output-format=json
}
echo "fio: sequential 1 MiB writes, io_uring, O_DIRECT, fdatasync after each" >&2
fio_json=$(fio_run 1)
# The broker writes through the page cache (DESIGN §3), as this run does.
echo "fio: the same writes through the page cache" >&2
fio_buffered_json=$(fio_run 0)
rm -rf "$dir/fio"

echo "iperf3: loopback TCP" >&2
port=${IPERF_PORT:-5201}
iperf3 -s -1 -p "$port" >/dev/null 2>&1 &
iperf_pid=$!
# A client that connects while the server is still starting can fail half-way and leave
# the server waiting, so the client starts only once the port listens.
until ss -Hltn "sport = :$port" | grep -q .; do kill -0 "$iperf_pid" || exit 1; sleep 0.1; done
iperf3_json=$(iperf3 -c 127.0.0.1 -p "$port" -t "$seconds" -J)
kill "$iperf_pid" 2>/dev/null || true
wait "$iperf_pid" || true
iperf_mb=$(jq -e '.end.sum_received.bits_per_second / 8 / 1e6' <<<"$iperf3_json")

echo "shoal: a broker on loopback" >&2
./target/release/shoal serve --override listeners=PLAINTEXT://127.0.0.1:0 --override metrics.port=0 \
  --override log.dirs="$dir/data" >"$dir/broker.out" 2>"$dir/broker.err" &
broker=$!
trap 'kill "$broker" 2>/dev/null || true' EXIT
until grep -q '^shoal ready' "$dir/broker.out"; do kill -0 "$broker" || { cat "$dir/broker.err"; exit 1; }; done
address=$(sed -n 's/^shoal ready: listening on //p' "$dir/broker.out")
metrics=$(sed -n 's/^shoal metrics: listening on //p' "$dir/broker.out")
# The broker's fdatasyncs so far, all shards: {count, sum_s, buckets: [[le, cumulative], ...]}
syncs() {
  curl -fsS "http://$metrics/metrics" | awk '
    /^shoal_writer_fdatasync_seconds_count/ { count += $2 }
    /^shoal_writer_fdatasync_seconds_sum/ { sum += $2 }
    /^shoal_writer_fdatasync_seconds_bucket/ {
      match($0, /le="[^"]*"/); le = substr($0, RSTART + 4, RLENGTH - 5)
      if (!(le in cumulative)) order[n++] = le
      cumulative[le] += $2 }
    END {
      printf "{\"count\": %d, \"sum_s\": %.6f, \"buckets\": [", count, sum
      for (i = 0; i < n; i++) printf "%s[\"%s\", %d]", (i ? ", " : ""), order[i], cumulative[order[i]]
      print "]}" }'
}

bench() { # NAME SCENARIO FLAGS...: one `shoal bench` run, its table on stderr, its report kept
  local name=$1; shift
  echo "shoal bench $*" >&2
  # shellcheck disable=SC2086
  ./target/release/shoal bench "$@" --bootstrap-server "$address" --topic "bench-$name" \
    --acks all --message-size 1024 --duration "$seconds" --json "$dir/reports/$name.json" $flags >&2
  # The run's data goes before the next run measures, as fio's file does. Left behind,
  # the gigabytes a max run wrote slowed the half-load run after it, most likely because
  # this VM's host was still writing them back (see the README).
  ./target/release/shoal topics --bootstrap-server "$address" --delete --topic "bench-$name" >&2
  while compgen -G "$dir/data/bench-$name-[0-9]*" >/dev/null; do kill -0 "$broker"; sleep 0.1; done
}
bench max produce
half_rate=$(jq '.produce.records_per_s / 2 | floor' "$dir/reports/max.json")
half_syncs_before=$(syncs)
bench half produce --rate "$half_rate"
half_syncs_after=$(syncs)
# Consumers share the machine with the producers, so end-to-end has its own maximum: half
# of produce's would be more than the machine can carry, and its latency only queueing.
bench e2e-max end-to-end
e2e_half_rate=$(jq '.produce.records_per_s / 2 | floor' "$dir/reports/e2e-max.json")
bench e2e end-to-end --rate "$e2e_half_rate"

echo "produce_fetch: fetch from a warm log" >&2
result=$(cargo bench --quiet --bench produce_fetch -- --bootstrap "$address" --seconds "$seconds" | tail -n 1)
kill -TERM "$broker"; wait "$broker" || true

jq -n --argjson fio "$fio_json" --argjson fio_buffered "$fio_buffered_json" --argjson iperf "$iperf_mb" \
  --argjson fetch "$result" --slurpfile max "$dir/reports/max.json" \
  --slurpfile half "$dir/reports/half.json" --slurpfile e2e_max "$dir/reports/e2e-max.json" \
  --slurpfile e2e "$dir/reports/e2e.json" \
  --argjson syncs_before "$half_syncs_before" --argjson syncs_after "$half_syncs_after" '
  def mb: .jobs[0].write.bw_bytes / 1e6;
  def sync_p99: .jobs[0].sync.lat_ns.percentile["99.000000"] / 1e6;
  # Prometheus histogram_quantile estimate from [[le, cumulative], ...] ending with +Inf.
  def bucket_quantile($q):
    (.[-1][1] * $q) as $rank
    | (map(.[1] >= $rank) | index(true)) as $i
    | if .[$i][0] == "+Inf" then .[$i - 1][0] | tonumber
      else (if $i == 0 then [0, 0] else [(.[$i - 1][0] | tonumber), .[$i - 1][1]] end) as [$low, $below]
        | $low + ((.[$i][0] | tonumber) - $low) * ($rank - $below) / (.[$i][1] - $below)
      end;
  # The syncs of the half-load run: counts after it less counts before it.
  ([$syncs_after.buckets, $syncs_before.buckets] | transpose | map([.[0][0], .[0][1] - .[1][1]]))
    as $buckets
  | ($syncs_after.count - $syncs_before.count) as $n
  | (if $n > 0 then {
      count: $n,
      mean_ms: (($syncs_after.sum_s - $syncs_before.sum_s) / $n * 1000),
      p99_ms: ($buckets | bucket_quantile(0.99) * 1000),
      over_2_5ms_share: (1 - ($buckets | map(select(.[0] == "0.0025"))[0][1]) / $n)}
    else {count: 0} end) as $half_syncs
  | {
    machine: $max[0].machine,
    fio_fdatasync_mb_per_s: ($fio | mb), fio_fdatasync_p99_ms: ($fio | sync_p99),
    fio_buffered_fdatasync_mb_per_s: ($fio_buffered | mb),
    fio_buffered_fdatasync_p99_ms: ($fio_buffered | sync_p99),
    iperf3_loopback_mb_per_s: $iperf,
    produce_max_mb_per_s: $max[0].produce.mb_per_s,
    produce_max_p99_ms: $max[0].produce.latency.p99_ms,
    half_load_records_per_s: $half[0].produce.records_per_s,
    produce_half_load_p99_ms: $half[0].produce.latency.p99_ms,
    produce_half_load_request_p99_ms: $half[0].request_latency.p99_ms,
    half_load_schedule_lag_p99_ms: $half[0].schedule_lag.p99_ms,
    half_load_broker_fdatasync: $half_syncs,
    end_to_end_max_records_per_s: $e2e_max[0].produce.records_per_s,
    end_to_end_half_load_p99_ms: $e2e[0].end_to_end_latency.p99_ms,
    end_to_end_half_load_schedule_lag_p99_ms: $e2e[0].schedule_lag.p99_ms,
    harness_cpu_seconds_per_mb: {max: $max[0].harness_cpu.seconds_per_mb,
                                 half: $half[0].harness_cpu.seconds_per_mb,
                                 e2e: $e2e[0].harness_cpu.seconds_per_mb},
    fetch_mb_per_s: $fetch.fetch_mb_per_s,
    produce_over_fio: ($max[0].produce.mb_per_s / ($fio | mb)),
    half_load_p99_over_fdatasync_p99: ($half[0].produce.latency.p99_ms / ($fio | sync_p99)),
    produce_over_fio_buffered: ($max[0].produce.mb_per_s / ($fio_buffered | mb)),
    half_load_p99_over_buffered_fdatasync_p99:
      ($half[0].produce.latency.p99_ms / ($fio_buffered | sync_p99)),
    half_load_p99_over_broker_fdatasync_p99:
      (if $half_syncs.p99_ms then $half[0].produce.latency.p99_ms / $half_syncs.p99_ms else null end),
    half_load_request_p99_over_buffered_fdatasync_p99:
      ($half[0].request_latency.p99_ms / ($fio_buffered | sync_p99)),
    half_load_request_p99_over_broker_fdatasync_p99:
      (if $half_syncs.p99_ms then $half[0].request_latency.p99_ms / $half_syncs.p99_ms else null end),
    fetch_over_iperf3: ($fetch.fetch_mb_per_s / $iperf)}'
