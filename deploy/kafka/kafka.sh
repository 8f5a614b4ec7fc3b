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
#   FINSENT_KAFKA_SECURED          1: also a SASL_SSL listener (SCRAM-SHA-512/256, PLAIN, OAUTHBEARER)
#                                  on port + 2 and a mutual-TLS listener on port + 3, with throw-away
#                                  certificates (test-certs.sh) and one user, "finsent", whose random
#                                  password is in <dir>/secrets/sasl-password (default 0)
#
# The PLAINTEXT listener stays for the broker itself and for test set-up; a secured test broker is
# for tests and trials, not a template for production (see docs/kafka-security.md).
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
port="${FINSENT_KAFKA_PORT:-9092}"
cport="${FINSENT_KAFKA_CONTROLLER_PORT:-$((port + 1))}"
dir="${FINSENT_KAFKA_DIR:-$repo/.cache/kafka-$port}"
jars="${FINSENT_KAFKA_JARS:-$repo/.cache/kafka-jars}"
partitions="${FINSENT_KAFKA_PARTITIONS:-6}"
secured="${FINSENT_KAFKA_SECURED:-0}"
sasl_port=$((port + 2))
mtls_port=$((port + 3))
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

# The SASL user's password and the TLS material of a secured broker, made once per data folder.
write_secrets() {
  local secrets="$dir/secrets"
  mkdir -p "$secrets"
  chmod 700 "$secrets"
  if [ ! -f "$secrets/sasl-password" ]; then
    (umask 077 && head -c 24 /dev/urandom | base64 | tr -d '/+=' >"$secrets/sasl-password")
  fi
  "$here/test-certs.sh" "$secrets/tls"
}

secured_config() {
  local tls="$dir/secrets/tls" pw sasl_pw
  pw="$(cat "$tls/store-password")"
  sasl_pw="$(cat "$dir/secrets/sasl-password")"
  cat <<EOF
sasl.enabled.mechanisms=SCRAM-SHA-512,SCRAM-SHA-256,PLAIN,OAUTHBEARER
# OAUTHBEARER with Kafka's built-in unsecured-token validator: a test stand-in for an identity
# provider (it checks a token's shape, subject and expiry, not a signature).
listener.name.sasl_ssl.oauthbearer.sasl.jaas.config=org.apache.kafka.common.security.oauthbearer.OAuthBearerLoginModule required;
listener.name.sasl_ssl.scram-sha-512.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required;
listener.name.sasl_ssl.scram-sha-256.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required;
listener.name.sasl_ssl.plain.sasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule required user_finsent="$sasl_pw";
ssl.keystore.type=PKCS12
ssl.keystore.location=$tls/broker.p12
ssl.keystore.password=$pw
ssl.key.password=$pw
ssl.truststore.type=PKCS12
ssl.truststore.location=$tls/truststore.p12
ssl.truststore.password=$pw
listener.name.ssl.ssl.client.auth=required
EOF
}

write_config() {
  mkdir -p "$dir/data"
  local listeners="PLAINTEXT://127.0.0.1:$port" protocols="PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT"
  if [ "$secured" = 1 ]; then
    listeners="$listeners,SASL_SSL://127.0.0.1:$sasl_port,SSL://127.0.0.1:$mtls_port"
    protocols="$protocols,SASL_SSL:SASL_SSL,SSL:SSL"
  fi
  # Private: a secured broker's file holds its keystore and PLAIN passwords.
  (umask 077 && cat >"$dir/server.properties" <<EOF
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@127.0.0.1:$cport
listeners=$listeners,CONTROLLER://127.0.0.1:$cport
advertised.listeners=$listeners
listener.security.protocol.map=$protocols
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
  )
  if [ "$secured" = 1 ]; then secured_config >>"$dir/server.properties"; fi
}

java_cmd=(java "-Xms${heap}" "-Xmx${heap}" -XX:+UseG1GC -XX:MaxGCPauseMillis=20
  -Djava.awt.headless=true "-Dlog4j2.configurationFile=$here/log4j2.properties" -cp "$jars/*")

start() {
  if pid="$(running_pid)"; then
    log "already running (pid $pid) on 127.0.0.1:$port"
    return 0
  fi
  local p ports=("$port" "$cport")
  if [ "$secured" = 1 ]; then ports+=("$sasl_port" "$mtls_port"); fi
  for p in "${ports[@]}"; do
    if port_open "$p"; then
      log "port $p is taken by another process$(holder "$p"); set FINSENT_KAFKA_PORT (the controller uses port + 1)"
      exit 1
    fi
  done
  fetch
  if [ "$secured" = 1 ]; then write_secrets; fi
  write_config
  if [ ! -f "$dir/data/meta.properties" ]; then
    log "formatting storage in $dir/data"
    # A static voter set (controller.quorum.voters) needs a plain format with a base64 cluster id.
    local cluster_id scram=()
    cluster_id="$(head -c 16 /dev/urandom | base64 | tr '+/' '-_' | tr -d '=')"
    if [ "$secured" = 1 ]; then
      # SCRAM users live in the cluster metadata; KRaft takes the first ones at format time.
      local sasl_pw
      sasl_pw="$(cat "$dir/secrets/sasl-password")"
      scram=(--add-scram "SCRAM-SHA-512=[name=finsent,password=$sasl_pw]"
        --add-scram "SCRAM-SHA-256=[name=finsent,password=$sasl_pw]")
    fi
    "${java_cmd[@]}" kafka.tools.StorageTool format -t "$cluster_id" -c "$dir/server.properties" \
      "${scram[@]}" >>"$logfile" 2>&1 || {
      log "storage format failed; see $logfile"
      exit 1
    }
  fi
  if [ "$secured" = 1 ]; then
    log "starting on 127.0.0.1:$port, SASL_SSL on $sasl_port, mutual TLS on $mtls_port (log: $logfile)"
  else
    log "starting on 127.0.0.1:$port (log: $logfile)"
  fi
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
