#!/usr/bin/env bash
# The README's run command: set up (once), then `finsent run` on the embedded default: the bundled
# sample feed, the embedded ONNX backend, metrics on http://127.0.0.1:9464/metrics.
# Extra arguments go to `finsent run` (e.g. --kafka 127.0.0.1:9092).
set -euo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
venv="$("$repo/deploy/bootstrap.sh")"
cd "$repo"
exec "$venv/bin/finsent" run "$@"
