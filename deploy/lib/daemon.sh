# Shared by deploy/*/…sh: manage one background server through a pid file.
# The caller sets: name (for messages), pidfile, logfile; and defines is_ready (exit 0 when ready).

log() { echo "$name: $*" >&2; }

running_pid() {
  [ -f "$pidfile" ] || return 1
  local pid
  pid="$(cat "$pidfile")"
  kill -0 "$pid" 2>/dev/null || return 1
  echo "$pid"
}

# wait_ready SECONDS: poll is_ready every 0.25 s; fail with the log's tail if the process exits.
wait_ready() {
  local tries=$(($1 * 4))
  for _ in $(seq 1 "$tries"); do
    if is_ready; then
      log "ready (pid $(cat "$pidfile"))"
      return 0
    fi
    if ! running_pid >/dev/null; then
      log "exited during start; last lines of $logfile:"
      tail -n 30 "$logfile" >&2
      exit 1
    fi
    sleep 0.25
  done
  log "not ready after $1 s; see $logfile"
  exit 1
}

# stop_daemon SECONDS: SIGTERM, wait for a clean exit, SIGKILL after SECONDS.
stop_daemon() {
  local pid
  if ! pid="$(running_pid)"; then
    log "not running"
    rm -f "$pidfile"
    return 0
  fi
  kill -TERM "$pid"
  for _ in $(seq 1 $(($1 * 4))); do
    if ! kill -0 "$pid" 2>/dev/null; then
      rm -f "$pidfile"
      log "stopped"
      return 0
    fi
    sleep 0.25
  done
  log "no clean stop after $1 s; killing it and its process group"
  kill -KILL -- "-$pid" 2>/dev/null || kill -KILL "$pid" 2>/dev/null || true
  rm -f "$pidfile"
}
