#!/usr/bin/env bash
# A single-node Apache Kafka 4.x broker (KRaft: broker and controller in one JVM) on 127.0.0.1,
# fetched from Maven Central and run as a plain process. No Docker needed.
#
#   deploy/kafka/kafka.sh fetch     # download the jars into the cache (once)
#   deploy/kafka/kafka.sh start     # format storage if new, start, wait until it accepts clients
#   deploy/kafka/kafka.sh stop      # SIGTERM, wait for a clean shutdown (SIGKILL after a timeout)
#   deploy/kafka/kafka.sh status    # exit 0 and print the pid when running
#
# Settings (environment):
#   FINSENT_KAFKA_PORT             client listener port            (default 9092)
#   FINSENT_KAFKA_CONTROLLER_PORT  KRaft controller port           (default client port + 1)
#   FINSENT_KAFKA_DIR              data, logs and pid file         (default <repo>/.cache/kafka-<port>)
#   FINSENT_KAFKA_JARS             jar cache                       (default <repo>/.cache/kafka-jars)
#   FINSENT_KAFKA_PARTITIONS       default partitions of new topics (default 6)
#   FINSENT_KAFKA_HEAP             JVM heap                        (default 512m)
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
port="${FINSENT_KAFKA_PORT:-9092}"
cport="${FINSENT_KAFKA_CONTROLLER_PORT:-$((port + 1))}"
dir="${FINSENT_KAFKA_DIR:-$repo/.cache/kafka-$port}"
jars="${FINSENT_KAFKA_JARS:-$repo/.cache/kafka-jars}"
partitions="${FINSENT_KAFKA_PARTITIONS:-6}"
heap="${FINSENT_KAFKA_HEAP:-512m}"
pidfile="$dir/kafka.pid"
logfile="$dir/kafka.log"

name=kafka
# shellcheck source=../lib/daemon.sh
. "$here/../lib/daemon.sh"

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
# " (pid N, name)" of the process listening on a port, when ss can tell.
holder() {
  command -v ss >/dev/null || return 0
  ss -ltnpH "sport = :$1" 2>/dev/null | sed -n 's/.*users:((\("[^"]*"\),pid=\([0-9]*\).*/ (pid \2, \1)/p' | head -n 1
}
is_ready() { port_open "$port" && grep -q "Kafka Server started" "$logfile" 2>/dev/null; }

fetch() {
  if [ -f "$jars/.complete" ]; then return 0; fi
  command -v mvn >/dev/null || { log "mvn is not installed (apt-get install maven)"; exit 1; }
  log "fetching Kafka jars from Maven Central into $jars (once)"
  mkdir -p "$jars"
  # A registry hiccup should not fail a whole test run: three tries, then mvn's own words.
  local try out
  for try in 1 2 3; do
    if out="$(mvn -q -B -f "$here/pom.xml" dependency:copy-dependencies \
      -DoutputDirectory="$jars" -DincludeScope=runtime 2>&1)"; then
      touch "$jars/.complete"
      return 0
    fi
    log "fetch try $try of 3 failed"
    sleep $((try * 5))
  done
  log "could not fetch the Kafka jars; mvn said:"
  echo "$out" | tail -n 30 >&2
  exit 1
}

write_config() {
  mkdir -p "$dir/data"
  cat >"$dir/server.properties" <<EOF
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@127.0.0.1:$cport
listeners=PLAINTEXT://127.0.0.1:$port,CONTROLLER://127.0.0.1:$cport
advertised.listeners=PLAINTEXT://127.0.0.1:$port
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
log.dirs=$dir/data
num.partitions=$partitions
default.replication.factor=1
offsets.topic.replication.factor=1
offsets.topic.num.partitions=12
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
group.initial.rebalance.delay.ms=0
auto.create.topics.enable=false
log.retention.hours=168
EOF
}

java_cmd=(java "-Xms${heap}" "-Xmx${heap}" -XX:+UseG1GC -XX:MaxGCPauseMillis=20
  -Djava.awt.headless=true "-Dlog4j2.configurationFile=$here/log4j2.properties" -cp "$jars/*")

start() {
  if pid="$(running_pid)"; then
    log "already running (pid $pid) on 127.0.0.1:$port"
    return 0
  fi
  local p
  for p in "$port" "$cport"; do
    if port_open "$p"; then
      log "port $p is taken by another process$(holder "$p"); set FINSENT_KAFKA_PORT (the controller uses port + 1)"
      exit 1
    fi
  done
  fetch
  write_config
  if [ ! -f "$dir/data/meta.properties" ]; then
    log "formatting storage in $dir/data"
    # A static voter set (controller.quorum.voters) needs a plain format with a base64 cluster id.
    local cluster_id
    cluster_id="$(head -c 16 /dev/urandom | base64 | tr '+/' '-_' | tr -d '=')"
    "${java_cmd[@]}" kafka.tools.StorageTool format -t "$cluster_id" -c "$dir/server.properties" >>"$logfile" 2>&1 || {
      log "storage format failed; see $logfile"
      exit 1
    }
  fi
  log "starting on 127.0.0.1:$port (log: $logfile)"
  # setsid: the broker must outlive the shell (and the pytest process) that started it.
  setsid nohup "${java_cmd[@]}" kafka.Kafka "$dir/server.properties" >>"$logfile" 2>&1 </dev/null &
  echo $! >"$pidfile"
  wait_ready 60
}

stop() { stop_daemon 30; }

status() {
  local pid
  if pid="$(running_pid)" && port_open "$port"; then
    echo "running pid=$pid bootstrap=127.0.0.1:$port dir=$dir"
    return 0
  fi
  echo "stopped"
  return 3
}

case "${1:-}" in
  fetch) fetch ;;
  start) start ;;
  stop) stop ;;
  status) status ;;
  restart) stop; start ;;
  *) echo "usage: $0 fetch|start|stop|status|restart" >&2; exit 2 ;;
esac
