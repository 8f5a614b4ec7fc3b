"""One-off quality studies for a GPU host (sweep, ensembles, further pre-training, agreement
weighting); their figures and conclusions are in bench/README.md. Each runs as
`python -m bench.experiments.NAME` and shares one fine-tune (`finetune.run_one`) and one process
pool (`bench.pool`)."""
