"""Wires the stages together for each command: `finsent run --kafka` (scorer), `finsent aggregate`
(aggregator and webhook dispatcher), and `finsent run` with no broker (the embedded replay)."""
