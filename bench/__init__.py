"""FinSent's benchmarks: run from the repository root as modules, e.g. `python -m bench.stream`.

`stream`, `gpu` and `quality` are the benchmarks kept current; `experiments/` holds the one-off
quality studies whose figures bench/README.md records. Results go to bench/results/.
"""

from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "bench" / "results"
SHARED_DATA = REPO.parent / "shared" / "data"
