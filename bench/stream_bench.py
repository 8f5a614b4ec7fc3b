"""Stream benchmark: messages/s through the real broker with the embedded backend, against

  1. a naive consumer written the way most users would: one message at a time, scored with
     `transformers.pipeline` on the same (PyTorch) model, each result produced as it comes;
  2. the embedded backend's inference alone on the same texts (no Kafka, no JSON, no commits).

All three run in this process, in this run, on the same messages. Results go to
bench/results/stream.json (and are printed). Run: `python bench/stream_bench.py [--n 2000]`.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import platform
import statistics
import subprocess
import sys
import threading
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared" / "data"
RESULTS = REPO / "bench" / "results"


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
        from finsent.app import bundled_feed

        pool = [
            json.loads(line)["text"]
            for line in bundled_feed().read_text().splitlines()
            if '"text": "' in line and line.endswith("}")
        ]
        source = "bundled sample feed"
    step = max(1, len(pool) // n)
    picked = (pool[::step] * (n // max(1, len(pool[::step])) + 1))[:n]
    return picked, source


def start_kafka(port: int) -> str:
    env = {
        **os.environ,
        "FINSENT_KAFKA_PORT": str(port),
        "FINSENT_KAFKA_DIR": str(REPO / ".cache" / f"bench-kafka-{port}"),
    }
    subprocess.run([REPO / "deploy" / "kafka" / "kafka.sh", "start"], env=env, check=True)
    return f"127.0.0.1:{port}"


def produce_all(bootstrap: str, topic: str, texts: list[str]) -> None:
    from kafka import KafkaProducer

    from finsent.pipeline.kafka_io import API_VERSION

    p = KafkaProducer(bootstrap_servers=bootstrap, acks="all", api_version=API_VERSION, linger_ms=5)
    for i, t in enumerate(texts):
        p.send(topic, json.dumps({"id": f"b{i}", "text": t, "source": "bench", "topics": ["BENCH"]}).encode())
    p.flush()
    p.close()


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

    def next_batch(self, stop):
        batch = self.inner.next_batch(stop)
        if batch.records and not self.started:
            self.started = time.perf_counter()
        return batch

    def __getattr__(self, name):
        return getattr(self.inner, name)


def bench_pipeline(bootstrap: str, backend, texts: list[str], max_batch: int, linger_ms: int) -> float:
    from finsent.observability.metrics import PipelineMetrics
    from finsent.pipeline.dedup import RecentIds
    from finsent.pipeline.kafka_io import KafkaSink, KafkaSource, ensure_topics
    from finsent.pipeline.scorer import ScoringPipeline

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
    return len(texts) / elapsed


def bench_naive(bootstrap: str, model_dir: Path, texts: list[str]) -> float:
    """What most users would write first: a consumer loop with transformers.pipeline, one message at
    a time, auto-commit on, each result sent as it is made."""
    from kafka import KafkaConsumer, KafkaProducer
    from transformers import pipeline as hf_pipeline

    from finsent.pipeline.kafka_io import API_VERSION, ensure_topics

    tag = uuid.uuid4().hex[:8]
    news, scored = f"naive{tag}.news", f"naive{tag}.scored"
    ensure_topics(bootstrap, [news, scored], 6)
    produce_all(bootstrap, news, texts)
    clf = hf_pipeline(
        "text-classification",
        model=str(model_dir),
        tokenizer=str(model_dir),
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
    return n / elapsed


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--n", type=int, default=2000, help="messages per variant")
    parser.add_argument("--port", type=int, default=39192)
    parser.add_argument("--max-batch", type=int, default=256)
    parser.add_argument("--linger-ms", type=int, default=200)
    parser.add_argument("--repeats", type=int, default=3, help="interleaved rounds of the fast variants")
    parser.add_argument("--out", type=Path, default=RESULTS / "stream.json")
    args = parser.parse_args()

    from finsent.demo.model import ensure_demo_checkpoint, ensure_demo_model
    from finsent.inference.embedded import EmbeddedBackend
    from finsent.inference.model_repo import read_manifest

    repo = REPO / ".cache" / "test-model-repo"
    ensure_demo_model(repo, "finsent_sentiment")
    checkpoint = ensure_demo_checkpoint()
    backend = EmbeddedBackend(repo, "finsent_sentiment", poll_s=0)
    texts, text_source = texts_for(args.n)
    bootstrap = start_kafka(args.port)

    fmt = read_manifest(repo / "finsent_sentiment" / backend.model.version).format
    print(
        f"{len(texts)} messages from {text_source}; model version {backend.model.version} ({fmt})", flush=True
    )
    bench_inference(backend, texts[:256], args.max_batch)  # warm-up
    # Interleaved rounds, medians: this machine is noisy, and both variants should see the same noise.
    rounds = []
    for r in range(args.repeats):
        inf = bench_inference(backend, texts, args.max_batch)
        e2e = bench_pipeline(bootstrap, backend, texts, args.max_batch, args.linger_ms)
        rounds.append({"inference_only": round(inf, 1), "end_to_end": round(e2e, 1)})
        print(f"round {r + 1}: inference only {inf:.0f} msg/s, end to end {e2e:.0f} msg/s", flush=True)
    inference = statistics.median(x["inference_only"] for x in rounds)
    e2e = statistics.median(x["end_to_end"] for x in rounds)
    naive = bench_naive(bootstrap, checkpoint, texts)
    print(f"naive consumer (transformers.pipeline, one at a time): {naive:.0f} msg/s", flush=True)

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
        "model_format": json.loads(
            (repo / "finsent_sentiment" / backend.model.version / "manifest.json").read_text()
        )["format"],
        "settings": {"max_batch": args.max_batch, "max_linger_ms": args.linger_ms, "infer_batch": 32},
        "msgs_per_s": {
            "inference_only": round(inference, 1),
            "end_to_end": round(e2e, 1),
            "naive": round(naive, 1),
        },
        "ratios": {
            "end_to_end_vs_naive": round(e2e / naive, 2),
            "stream_overhead_vs_inference": round(
                statistics.median(1 - x["end_to_end"] / x["inference_only"] for x in rounds), 3
            ),
        },
        "targets": {"end_to_end_vs_naive": ">= 7", "stream_overhead_vs_inference": "< 0.10"},
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result["ratios"]), f"-> {args.out}")
    backend.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
