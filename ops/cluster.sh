#!/usr/bin/env bash
# Runs a few shoal nodes on this machine as one cluster: each is broker and controller,
# and the nodes form one metadata quorum (controller.quorum.voters names them all).
#
#     ops/cluster.sh start 3      # nodes 1..3: clients on 9092, 9093, 9094
#     ops/cluster.sh status       # which nodes run, and the quorum's leader and epoch
#     ops/cluster.sh kill 2       # SIGKILL node 2, as a crash
#     ops/cluster.sh restart 2    # start node 2 again on its data
#     ops/cluster.sh stop         # SIGTERM every node and wait for it
#
# The quorum elects a leader, fails over and keeps its log; the brokers register
# through it, topics live in it, and partitions are replicated between the brokers
# (`shoal topics --create --replication-factor 3`): see docs/ARCHITECTURE.md, "The
# metadata quorum" and "Replication between brokers".
#
# Settings (environment):
#   CLUSTER_DIR              data, logs and pid files (default ./shoal-cluster)
#   CLUSTER_BIN              the shoal binary (default: shoal on PATH, else target/release/shoal)
#   CLUSTER_CLIENT_PORT      node 1's client port; node i listens on it + i - 1 (default 9092)
#   CLUSTER_CONTROLLER_PORT  node 1's controller port, likewise (default 9192)
#   CLUSTER_METRICS_PORT     node 1's metrics port, likewise (default 9644)
#   CLUSTER_READY_TIMEOUT    seconds a node may take to become ready (default 60)
#   CLUSTER_CORES            each node's shard count (default: the broker's, one per core)
set -euo pipefail

dir=${CLUSTER_DIR:-./shoal-cluster}
client_port=${CLUSTER_CLIENT_PORT:-9092}
controller_port=${CLUSTER_CONTROLLER_PORT:-9192}
metrics_port=${CLUSTER_METRICS_PORT:-9644}
ready_timeout=${CLUSTER_READY_TIMEOUT:-60}
cores=${CLUSTER_CORES:-}

die() { echo "cluster.sh: $*" >&2; exit 1; }

binary() {
  if [[ -n ${CLUSTER_BIN:-} ]]; then echo "$CLUSTER_BIN"
  elif command -v shoal >/dev/null; then command -v shoal
  elif [[ -x target/release/shoal ]]; then echo target/release/shoal
  else die "no shoal binary: set CLUSTER_BIN, put shoal on PATH, or cargo build --release"
  fi
}

size() { [[ -f $dir/size ]] || die "no cluster in $dir: run '$0 start N' first"; cat "$dir/size"; }

pid_of() { [[ -f $dir/node-$1.pid ]] && cat "$dir/node-$1.pid" || true; }

running() { local pid; pid=$(pid_of "$1"); [[ -n $pid ]] && kill -0 "$pid" 2>/dev/null; }

voters() {
  local n=$1 i list=""
  for ((i = 1; i <= n; i++)); do list+="${list:+,}$i@127.0.0.1:$((controller_port + i - 1))"; done
  echo "$list"
}

# Starts node $1 of $2 in the background and waits for its ready line.
launch() {
  local i=$1 n=$2 log="$dir/node-$1.log" bin
  bin=$(binary)
  running "$i" && die "node $i already runs (pid $(pid_of "$i"))"
  mkdir -p "$dir/node-$i"
  touch "$log"
  local start_line
  start_line=$(wc -l <"$log")
  # SHOAL_* variables configure the broker, and it refuses ones it does not know (such
  # as a SHOAL_BIN a test harness exports): only the log's reach it.
  local unset=() name
  for name in $(compgen -e); do
    if [[ $name == SHOAL_* && $name != SHOAL_LOG && $name != SHOAL_LOG_FORMAT ]]; then unset+=(-u "$name"); fi
  done
  env "${unset[@]}" "$bin" serve \
    --override node.id="$i" \
    --override process.roles=broker,controller \
    --override controller.quorum.voters="$(voters "$n")" \
    --override listeners="PLAINTEXT://127.0.0.1:$((client_port + i - 1)),CONTROLLER://127.0.0.1:$((controller_port + i - 1))" \
    --override controller.listener.names=CONTROLLER \
    --override log.dirs="$(cd "$dir" && pwd)/node-$i" \
    --override metrics.port=$((metrics_port + i - 1)) \
    ${cores:+--override cores="$cores"} \
    >>"$log" 2>&1 </dev/null &
  echo $! >"$dir/node-$i.pid"
  local waited=0
  until tail -n +"$((start_line + 1))" "$log" | grep -q '^shoal ready'; do
    running "$i" || die "node $i exited before it was ready; see $log"
    ((waited++ < ready_timeout * 10)) || die "node $i not ready after ${ready_timeout}s; see $log"
    sleep 0.1
  done
  echo "node $i: ready on 127.0.0.1:$((client_port + i - 1)) (pid $(pid_of "$i"))"
}

# Sends $2 to node $1 and waits for it to exit.
signal_node() {
  local i=$1 sig=$2 pid
  running "$i" || return 0
  pid=$(pid_of "$i")
  kill -"$sig" "$pid"
  while kill -0 "$pid" 2>/dev/null; do sleep 0.1; done
  echo "node $i: stopped ($sig)"
}

# Waits until node 1 knows a quorum leader, and names it.
leader_of() {
  local waited=0 leader
  while :; do
    leader=$("$(binary)" metadata-quorum --bootstrap-server "127.0.0.1:$client_port" describe --status 2>/dev/null |
      sed -n 's/^LeaderId: *//p')
    if [[ -n $leader && $leader != -1 ]]; then
      echo "quorum: node $leader leads"
      return 0
    fi
    ((waited++ < ready_timeout * 10)) || die "no quorum leader after ${ready_timeout}s"
    sleep 0.1
  done
}

node_arg() {
  local n; n=$(size)
  [[ ${1:-} =~ ^[0-9]+$ ]] && (($1 >= 1 && $1 <= n)) || die "a node number from 1 to $n"
}

case ${1:-} in
  start)
    n=${2:-3}
    [[ $n =~ ^[0-9]+$ ]] && ((n >= 1)) || die "start takes a node count"
    mkdir -p "$dir"
    if [[ -f $dir/size && $(cat "$dir/size") != "$n" ]]; then
      die "$dir holds a cluster of $(cat "$dir/size") nodes; stop it and remove $dir first"
    fi
    echo "$n" >"$dir/size"
    for ((i = 1; i <= n; i++)); do running "$i" || launch "$i" "$n"; done
    leader_of
    ;;
  stop)
    n=$(size)
    for ((i = 1; i <= n; i++)); do signal_node "$i" TERM; done
    ;;
  kill)
    node_arg "${2:-}"
    signal_node "$2" KILL
    ;;
  restart)
    node_arg "${2:-}"
    signal_node "$2" TERM
    launch "$2" "$(size)"
    ;;
  status)
    n=$(size)
    first=""
    for ((i = 1; i <= n; i++)); do
      if running "$i"; then
        echo "node $i: running (pid $(pid_of "$i")) on 127.0.0.1:$((client_port + i - 1))"
        first=${first:-$i}
      else
        echo "node $i: stopped"
      fi
    done
    if [[ -n $first ]]; then
      "$(binary)" metadata-quorum --bootstrap-server "127.0.0.1:$((client_port + first - 1))" describe --status
    fi
    ;;
  *)
    sed -n '2,/^set -euo/p' "$0" | sed '$d' | sed 's/^# \{0,1\}//' >&2
    exit 2
    ;;
esac
