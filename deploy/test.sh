#!/usr/bin/env bash
# The README's test command (and what .ci/run calls): set up (once), install the system packages the
# tests need, lint, type-check services/, then run the whole suite. Kafka (and, in their tests, Triton and Prometheus)
# are started by the test fixtures themselves. Extra arguments go to pytest.
#   FINSENT_TEST_WORKERS  pytest-xdist workers (default 3: the suite in about 13 minutes on 2 cores
#                         instead of 24 in one process; 0 = one process). Test files are the unit
#                         of distribution (--dist loadfile), so a module's fixtures (a Triton, an
#                         alerting stack, a trained tiny model) start once; each worker starts its
#                         own Kafka broker on free ports. Most of the suite's time is spent waiting on
#                         brokers and servers, so 3 workers on 2 cores still overlap well.
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
exec python -m pytest -n "${FINSENT_TEST_WORKERS:-3}" --dist loadfile "$@"
