#!/usr/bin/env bash
# A local NVIDIA Triton Inference Server on CPU: the real `tritonserver` binary shipped in the PyPI
# wheel nvidia-pytriton, with its Python backend, serving model_repo/finsent_sentiment.
#
#   deploy/triton/triton.sh start|stop|status|restart
#
# Settings (environment):
#   FINSENT_TRITON_HTTP_PORT / _GRPC_PORT / _METRICS_PORT   (8000 / 8001 / 8002)
#   FINSENT_TRITON_DIR     runtime files, log, pid      (default <repo>/.cache/triton-<grpc port>)
#   FINSENT_MODEL_REPO     the model repository         (default <repo>/model_repo)
#   FINSENT_TRITON_MODELS  models to serve, space-separated (default finsent_sentiment; the TensorRT
#                          model needs the official GPU container)
#   FINSENT_TRITON_POLL_S  how often Triton looks for new versions (default 5)
#   FINSENT_VENV           the Python environment the backend runs in (default <repo>/.venv)
#   FINSENT_TRITON_GRPC_CERT, FINSENT_TRITON_GRPC_KEY   PEM server certificate and key: gRPC over TLS
#   FINSENT_TRITON_GRPC_ROOT_CERT                       with the above: mutual TLS, clients signed by this CA
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
http="${FINSENT_TRITON_HTTP_PORT:-8000}"
grpc="${FINSENT_TRITON_GRPC_PORT:-8001}"
metrics="${FINSENT_TRITON_METRICS_PORT:-8002}"
dir="${FINSENT_TRITON_DIR:-$repo/.cache/triton-$grpc}"
model_repo="$(cd "${FINSENT_MODEL_REPO:-$repo/model_repo}" && pwd)"
models="${FINSENT_TRITON_MODELS:-finsent_sentiment}"
poll="${FINSENT_TRITON_POLL_S:-5}"
venv="${FINSENT_VENV:-$repo/.venv}"
py="$venv/bin/python"
pidfile="$dir/triton.pid"
logfile="$dir/triton.log"

name=triton
# shellcheck source=../lib/daemon.sh
. "$here/../lib/daemon.sh"

is_ready() { curl -sf "http://127.0.0.1:$http/v2/health/ready" >/dev/null 2>&1; }

start() {
  if pid="$(running_pid)"; then
    log "already running (pid $pid); gRPC 127.0.0.1:$grpc"
    return 0
  fi
  [ -x "$py" ] || { log "no Python environment at $venv (run deploy/bootstrap.sh)"; exit 1; }
  local pkg libs pyver stub pylib
  pkg="$("$py" -c 'import os, pytriton; print(os.path.dirname(pytriton.__file__))')" || {
    log "nvidia-pytriton is not installed in $venv (pip install 'finsent[triton]')"; exit 1; }
  libs="$(dirname "$pkg")/nvidia_pytriton.libs"
  pyver="$("$py" -c 'import sys; print(f"{sys.version_info[0]}.{sys.version_info[1]}")')"
  stub="$pkg/tritonserver/python_backend_stubs/$pyver/triton_python_backend_stub"
  [ -f "$stub" ] || { log "no Python backend stub for Python $pyver in nvidia-pytriton"; exit 1; }
  pylib="$("$py" -c 'import sysconfig; print(sysconfig.get_config_var("LIBDIR"))')"

  mkdir -p "$dir/backends" "$dir/models"
  # The backend directory: the wheel's Python backend plus the stub for this Python version.
  rm -rf "$dir/backends/python"
  cp -r "$pkg/tritonserver/backends/python" "$dir/backends/python"
  cp "$stub" "$dir/backends/python/"
  # A repository view holding only the models this server should load (poll mode loads all).
  find "$dir/models" -mindepth 1 -maxdepth 1 -exec rm -rf {} +
  for m in $models; do
    [ -f "$model_repo/$m/config.pbtxt" ] || { log "$model_repo/$m has no config.pbtxt"; exit 1; }
    ln -s "$model_repo/$m" "$dir/models/$m"
  done

  local tls=()
  if [ -n "${FINSENT_TRITON_GRPC_CERT:-}" ]; then
    tls=(--grpc-server-cert="$FINSENT_TRITON_GRPC_CERT" --grpc-server-key="${FINSENT_TRITON_GRPC_KEY:?set with FINSENT_TRITON_GRPC_CERT}")
    if [ -n "${FINSENT_TRITON_GRPC_ROOT_CERT:-}" ]; then
      tls+=(--grpc-use-ssl-mutual=true --grpc-root-cert="$FINSENT_TRITON_GRPC_ROOT_CERT")
    else
      tls+=(--grpc-use-ssl=true)
    fi
  fi
  log "starting tritonserver (HTTP $http, gRPC $grpc${tls:+ over TLS}, metrics $metrics; log: $logfile)"
  # The backend stub finds the environment through `python3` on PATH and loads libpython from the
  # library path: both must be the venv's, or the stub and the interpreter disagree.
  PATH="$venv/bin:$PATH" LD_LIBRARY_PATH="$libs:$pylib:${LD_LIBRARY_PATH:-}" \
    setsid nohup "$pkg/tritonserver/bin/tritonserver" \
      --model-repository="$dir/models" --backend-directory="$dir/backends" \
      --model-control-mode=poll --repository-poll-secs="$poll" \
      --http-port="$http" --grpc-port="$grpc" --metrics-port="$metrics" \
      --http-address=127.0.0.1 --grpc-address=127.0.0.1 \
      --backend-config=python,shm-default-byte-size=16777216 \
      --exit-timeout-secs=10 --disable-auto-complete-config \
      --pinned-memory-pool-byte-size=0 --allow-gpu-metrics=false "${tls[@]}" \
      >>"$logfile" 2>&1 </dev/null &
  echo $! >"$pidfile"
  wait_ready 60
}

stop() { stop_daemon 20; }

status() {
  local pid
  if pid="$(running_pid)" && is_ready; then
    echo "running pid=$pid grpc=127.0.0.1:$grpc http=127.0.0.1:$http metrics=127.0.0.1:$metrics"
    return 0
  fi
  echo "stopped"
  return 3
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  status) status ;;
  restart) stop; start ;;
  *) echo "usage: $0 start|stop|status|restart" >&2; exit 2 ;;
esac
