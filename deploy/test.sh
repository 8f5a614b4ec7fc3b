#!/usr/bin/env bash
# The README's test command (and what .ci/run calls): set up (once), install the system packages the
# tests need, lint, type-check services/, then run the whole suite. Kafka (and, in their tests, Triton and Prometheus)
# are started by the test fixtures themselves. Extra arguments go to pytest.
set -euo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
cd "$repo"
"$repo/deploy/system-deps.sh"
venv="$("$repo/deploy/bootstrap.sh")"
export PATH="$venv/bin:$PATH"
echo "== ruff" >&2
ruff check services tests bench deploy
ruff format --check services tests bench deploy
echo "== mypy" >&2
mypy
echo "== pytest" >&2
exec python -m pytest "$@"
