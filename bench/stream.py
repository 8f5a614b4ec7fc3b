"""Stream benchmark: messages/s through the real broker with the embedded backend, against

  1. a naive consumer written the way most users would: one message at a time, scored with
     `transformers.pipeline` on the same (PyTorch) model, each result produced as it comes;
  2. the embedded backend's inference alone on the same texts (no Kafka, no JSON, no commits);
  3. with --triton: the same pipeline scoring through a local Triton (CPU, Python backend, same
     model version), and Triton's mean batch size from its own metrics.

All run in this process, in this run, on the same messages, in interleaved rounds (medians); the
naive consumer, ~7x slower, scores an evenly spaced quarter of the messages in each round.
Results go to bench/results/stream.json (and are printed).
Run: `python -m bench.stream [--n 2000] [--triton]`.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import threading
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

from bench import REPO, RESULTS, SHARED_DATA
from finsent.settings import Settings

DEFAULTS = Settings.model_fields  # the bench runs the product's defaults unless told otherwise
SHARED = SHARED_DATA


def texts_for(n: int) -> tuple[list[str], str]:
    """Real headlines and tweets from ../shared when present, else the bundled sample feed."""
    pool: list[str] = []
    for name in ("fpb_50agree.csv", "twitter_fin_train.csv"):
        path = SHARED / name
        if path.is_file():
            with path.open(newline="", encoding="utf-8") as f:
                pool.extend(row["text"] for row in csv.DictReader(f))
    source = "shared/data (FPB 50agree + twitter_fin_train)"
    if not pool:
        from finsent.app.wiring import bundled_feed

        pool = [
            json.loads(line)["text"]
            for line in bundled_feed().read_text().splitlines()
            if '"text": "' in line and line.endswith("}")
        ]
        source = "bundled sample feed"
    step = max(1, len(pool) // n)
    picked = (pool[::step] * (n // max(1, len(pool[::step])) + 1))[:n]
    return picked, source


def kafka_env(port: int) -> dict[str, str]:
    return {
        **os.environ,
        "FINSENT_KAFKA_PORT": str(port),
        "FINSENT_KAFKA_DIR": str(REPO / ".cache" / f"bench-kafka-{port}"),
    }


def start_kafka(port: int) -> tuple[str, bool]:
    """The broker's address, and whether it was already running (then it is left running)."""
    script = REPO / "deploy" / "kafka" / "kafka.sh"
    was_running = subprocess.run([script, "status"], env=kafka_env(port), capture_output=True).returncode == 0
    subprocess.run([script, "start"], env=kafka_env(port), check=True)
    return f"127.0.0.1:{port}", was_running


def produce_all(bootstrap: str, topic: str, texts: list[str]) -> None:
    from kafka import KafkaProducer

    from finsent.kafka.client import API_VERSION

    p = KafkaProducer(bootstrap_servers=bootstrap, acks="all", api_version=API_VERSION, linger_ms=5)
    for i, t in enumerate(texts):
        p.send(topic, json.dumps({"id": f"b{i}", "text": t, "source": "bench", "topics": ["BENCH"]}).encode())
    p.flush()
    p.close()


def drop_topics(bootstrap: str, topics: list[str]) -> None:
    """Each pass makes its own topics; left behind, a broker kept across runs piles up thousands
    of partitions."""
    from kafka import KafkaAdminClient

    from finsent.kafka.client import API_VERSION

    admin = KafkaAdminClient(bootstrap_servers=bootstrap, api_version=API_VERSION)
    try:
        admin.delete_topics(topics)
    finally:
        admin.close()


def bench_inference(backend, texts: list[str], batch: int) -> float:
    started = time.perf_counter()
    for i in range(0, len(texts), batch):
        backend.score(texts[i : i + batch])
    return len(texts) / (time.perf_counter() - started)


class FirstRecordClock:
    """A source wrapper that notes when the first records arrive, so the consumer group's join
    (a one-off at start) is not counted as stream cost."""

    def __init__(self, inner) -> None:
        self.inner = inner
        self.started = 0.0

    def next_batch(self, stop, busy=None):
        batch = self.inner.next_batch(stop, busy)
        if batch.records and not self.started:
            self.started = time.perf_counter()
        return batch

    def __getattr__(self, name):
        return getattr(self.inner, name)


def bench_pipeline(bootstrap: str, backend, texts: list[str], max_batch: int, linger_ms: int) -> float:
    from finsent.kafka.client import ensure_topics
    from finsent.kafka.sink import KafkaSink
    from finsent.kafka.source import KafkaSource
    from finsent.scoring.dedup import RecentIds
    from finsent.scoring.metrics import PipelineMetrics
    from finsent.scoring.scorer import ScoringPipeline

    tag = uuid.uuid4().hex[:8]
    news, scored, dlq = f"bench{tag}.news", f"bench{tag}.scored", f"bench{tag}.dlq"
    ensure_topics(bootstrap, [news, scored, dlq], 6)
    produce_all(bootstrap, news, texts)
    source = KafkaSource(bootstrap, news, f"bench{tag}", max_batch=max_batch, max_linger_ms=linger_ms)
    sink = KafkaSink(bootstrap, scored, dlq)
    done = threading.Event()
    timed = FirstRecordClock(source)
    counted = [0]

    def on_batch(out) -> None:
        counted[0] += len(out.scored) + len(out.dead) + out.duplicates
        if counted[0] >= len(texts):
            done.set()

    pipeline = ScoringPipeline(
        timed,
        backend,
        sink,
        recent=RecentIds(len(texts) * 2, 3600),
        metrics=PipelineMetrics(),
        on_batch=on_batch,
    )
    pipeline.run(done)
    elapsed = time.perf_counter() - timed.started
    source.close()
    sink.close()
    drop_topics(bootstrap, [news, scored, dlq])
    return len(texts) / elapsed


def bench_naive(bootstrap: str, model_dir: Path, texts: list[str]) -> float:
    """What most users would write first: a consumer loop with transformers.pipeline, one message at
    a time, auto-commit on, each result sent as it is made."""
    from kafka import KafkaConsumer, KafkaProducer
    from transformers import AutoTokenizer
    from transformers import pipeline as hf_pipeline

    from finsent.kafka.client import API_VERSION, ensure_topics
    from finsent.training.classifier import load_classifier

    tag = uuid.uuid4().hex[:8]
    news, scored = f"naive{tag}.news", f"naive{tag}.scored"
    ensure_topics(bootstrap, [news, scored], 6)
    produce_all(bootstrap, news, texts)
    clf = hf_pipeline(
        "text-classification",
        model=load_classifier(model_dir),
        tokenizer=AutoTokenizer.from_pretrained(str(model_dir)),
        device="cpu",
        truncation=True,
        max_length=128,
    )
    consumer = KafkaConsumer(
        news,
        bootstrap_servers=bootstrap,
        group_id=f"naive{tag}",
        auto_offset_reset="earliest",
        api_version=API_VERSION,
    )
    producer = KafkaProducer(bootstrap_servers=bootstrap, api_version=API_VERSION)
    n, started = 0, None
    for msg in consumer:
        if started is None:
            started = time.perf_counter()
        item = json.loads(msg.value)
        result = clf(item["text"])[0]
        producer.send(
            scored,
            json.dumps({"id": item["id"], "label": result["label"], "score": result["score"]}).encode(),
        )
        n += 1
        if n >= len(texts):
            break
    producer.flush()
    elapsed = time.perf_counter() - started
    consumer.close()
    producer.close()
    drop_topics(bootstrap, [news, scored])
    return n / elapsed


def start_triton(repo: Path, grpc_port: int) -> tuple[dict[str, str], str]:
    env = {
        **os.environ,
        "FINSENT_MODEL_REPO": str(repo),
        "FINSENT_TRITON_GRPC_PORT": str(grpc_port),
        "FINSENT_TRITON_HTTP_PORT": str(grpc_port + 1),
        "FINSENT_TRITON_METRICS_PORT": str(grpc_port + 2),
        "FINSENT_TRITON_DIR": str(REPO / ".cache" / f"bench-triton-{grpc_port}"),
        "FINSENT_VENV": str(Path(sys.executable).parents[1]),
    }
    subprocess.run([REPO / "deploy" / "triton" / "triton.sh", "start"], env=env, check=True)
    return env, f"http://127.0.0.1:{grpc_port + 2}/metrics"


def triton_batch_stats(metrics_url: str) -> tuple[float, float]:
    """(inferences, executions) of the model so far, from Triton's Prometheus metrics."""
    import httpx

    count = execs = 0.0
    for line in httpx.get(metrics_url, timeout=5).text.splitlines():
        if line.startswith("nv_inference_count{"):
            count += float(line.rsplit(" ", 1)[1])
        elif line.startswith("nv_inference_exec_count{"):
            execs += float(line.rsplit(" ", 1)[1])
    return count, execs


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--n", type=int, default=2000, help="messages per variant")
    parser.add_argument("--port", type=int, default=39192)
    parser.add_argument("--max-batch", type=int, default=DEFAULTS["max_batch"].default)
    parser.add_argument("--linger-ms", type=int, default=DEFAULTS["max_linger_ms"].default)
    parser.add_argument("--repeats", type=int, default=7, help="interleaved rounds of the fast variants")
    parser.add_argument("--triton", action="store_true", help="also score through a local Triton (CPU)")
    parser.add_argument("--triton-port", type=int, default=39301)
    parser.add_argument("--out", type=Path, default=RESULTS / "stream.json")
    parser.add_argument(
        "--shipped",
        type=Path,
        default=None,
        help="measure the shipped model (installed as finsent run installs it); the naive consumer "
        "runs the same weights from this PyTorch folder (the build's student)",
    )
    args = parser.parse_args()

    from finsent.demo.model import ensure_demo_checkpoint
    from finsent.inference.embedded import EmbeddedBackend
    from finsent.inference.model_repo import latest_version, read_manifest
    from finsent.training.export import export

    if args.shipped is not None:
        from finsent.shipped import ensure_model

        checkpoint = args.shipped
        repo = REPO / ".cache" / "bench-shipped-repo"
        (repo / "finsent_sentiment").mkdir(parents=True, exist_ok=True)
        shutil.copy2(REPO / "model_repo" / "finsent_sentiment" / "config.pbtxt", repo / "finsent_sentiment")
        ensure_model(repo, "finsent_sentiment")
    else:
        checkpoint = ensure_demo_checkpoint()
        repo = REPO / ".cache" / "bench-model-repo"
    if latest_version(repo, "finsent_sentiment") is None:
        (repo / "finsent_sentiment").mkdir(parents=True, exist_ok=True)
        shutil.copy2(REPO / "model_repo" / "finsent_sentiment" / "config.pbtxt", repo / "finsent_sentiment")
        export(checkpoint, repo, "finsent_sentiment")
    backend = EmbeddedBackend(repo, "finsent_sentiment", poll_s=0)
    fmt = read_manifest(repo / "finsent_sentiment" / backend.model.version).format
    texts, text_source = texts_for(args.n)
    bootstrap, kafka_was_running = start_kafka(args.port)
    triton = None
    if args.triton:
        from finsent.inference.triton_backend import TritonBackend

        triton_env, triton_metrics = start_triton(repo, args.triton_port)
        triton = TritonBackend(f"127.0.0.1:{args.triton_port}", "finsent_sentiment", repo)

    print(
        f"{len(texts)} messages from {text_source}; model version {backend.model.version} ({fmt})", flush=True
    )
    # Warm-up, untimed: the model, and a fresh broker's JIT compiler (which otherwise burns a core
    # on these 2 during the first round, a one-off that is not the stream's cost).
    bench_inference(backend, texts[:256], args.max_batch)
    bench_pipeline(bootstrap, backend, texts[:1000], args.max_batch, args.linger_ms)
    # Interleaved rounds, medians: this machine is noisy, and every variant should see the same noise.
    rounds = []
    for r in range(args.repeats):
        row = {
            "inference_only": bench_inference(backend, texts, args.max_batch),
            "end_to_end": bench_pipeline(bootstrap, backend, texts, args.max_batch, args.linger_ms),
            "naive": bench_naive(bootstrap, checkpoint, texts[::4]),
        }
        if triton is not None:
            before = triton_batch_stats(triton_metrics)
            row["end_to_end_triton"] = bench_pipeline(
                bootstrap, triton, texts, args.max_batch, args.linger_ms
            )
            after = triton_batch_stats(triton_metrics)
            row["triton_mean_batch"] = (after[0] - before[0]) / max(1.0, after[1] - before[1])
        rounds.append({k: round(v, 1) for k, v in row.items()})
        print(f"round {r + 1}: " + ", ".join(f"{k} {v:.0f}" for k, v in row.items()), flush=True)
    med = {k: statistics.median(x[k] for x in rounds) for k in rounds[0]}
    naive = med["naive"]

    ratios = {
        "end_to_end_vs_naive": round(med["end_to_end"] / naive, 2),
        "stream_overhead_vs_inference": round(
            statistics.median(1 - x["end_to_end"] / x["inference_only"] for x in rounds), 3
        ),
    }
    if triton is not None:
        ratios["triton_end_to_end_vs_naive"] = round(med["end_to_end_triton"] / naive, 2)
        ratios["triton_vs_embedded_end_to_end"] = round(med["end_to_end_triton"] / med["end_to_end"], 2)
    result = {
        "benchmark": "stream",
        "when": datetime.now(UTC).isoformat(),
        "machine": {
            "cpus": os.cpu_count(),
            "platform": platform.platform(),
            "python": sys.version.split()[0],
        },
        "messages": len(texts),
        "texts": text_source,
        "model_format": fmt,
        "settings": {
            "max_batch": args.max_batch,
            "max_linger_ms": args.linger_ms,
            "infer_batch": backend.infer_batch,
        },
        "rounds": rounds,
        "msgs_per_s_median": {k: round(v, 1) for k, v in med.items() if k != "triton_mean_batch"},
        "triton_mean_batch_size": round(med["triton_mean_batch"], 1) if triton is not None else None,
        "ratios": ratios,
        "targets": {"end_to_end_vs_naive": ">= 7", "stream_overhead_vs_inference": "< 0.10"},
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(ratios), f"-> {args.out}")
    backend.close()
    if triton is not None:
        triton.close()
        subprocess.run([REPO / "deploy" / "triton" / "triton.sh", "stop"], env=triton_env, check=False)
    if not kafka_was_running:
        subprocess.run(
            [REPO / "deploy" / "kafka" / "kafka.sh", "stop"], env=kafka_env(args.port), check=False
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
