"""The one consumer loop (kafka/consumer_loop.py) against a consumer double: it commits only what the
step acknowledged, and a failed step loses nothing (its batch is read again) and is retried after a
back-off. The loop on a real broker is exercised by the aggregator, dispatcher and label tests."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import pytest

from finsent.kafka.client import Partition
from finsent.kafka.consumer_loop import ConsumerLoop, Handled, Polled, StepDefaults
from finsent.observability.failure_streak import FailureStreak

A, B = Partition("t", 0), Partition("t", 1)


@dataclass
class Record:
    offset: int
    value: bytes = b""


class FakeConsumer:
    """A consumer's state as the loop sees it: a position per partition over fixed logs."""

    def __init__(self, logs: Mapping[Partition, int]) -> None:
        self.logs = dict(logs)  # partition -> number of records on it
        self.position = {tp: 0 for tp in logs}
        self.committed: dict[Partition, int] = {}
        self.listener: Any = None
        self.closed = False

    def subscribe(self, topics: list[str], listener: Any) -> None:
        self.listener = listener

    def assignment(self) -> set[Partition]:
        return set(self.logs)

    def poll(self, timeout_ms: int = 0, max_records: int = 3) -> dict[Partition, list[Record]]:
        out = {}
        for tp, end in self.logs.items():
            start = self.position[tp]
            if start < end:
                out[tp] = [Record(o) for o in range(start, min(end, start + max_records))]
                self.position[tp] = out[tp][-1].offset + 1
        return out

    def seek(self, tp: Partition, offset: int) -> None:
        self.position[tp] = offset

    def commit(self, offsets: Mapping[Partition, Any]) -> None:
        self.committed.update({tp: m.offset for tp, m in offsets.items()})

    def close(self, autocommit: bool = True) -> None:
        self.closed = True


class Step(StepDefaults):
    def __init__(self, fail_on: Callable[[Polled], bool] = lambda polled: False) -> None:
        self.fail_on = fail_on
        self.seen: list[tuple[Partition, int]] = []
        self.recovered: list[Exception] = []
        self.assigned_to: list[Partition] = []

    def handle(self, polled: Polled) -> Handled:
        if self.fail_on(polled):
            raise RuntimeError("the output was not acknowledged")
        self.seen += [(tp, r.offset) for tp, rs in polled.items() for r in rs]
        return Handled(sum(map(len, polled.values())), {tp: rs[-1].offset + 1 for tp, rs in polled.items()})

    def recover(self, exc: Exception) -> None:
        self.recovered.append(exc)

    def assigned(self, partitions: list[Partition]) -> None:
        self.assigned_to += partitions


def loop_over(consumer: FakeConsumer, step: Step) -> ConsumerLoop:
    failures = FailureStreak(logging.getLogger("test"), max_backoff_s=0.01)
    return ConsumerLoop(consumer, ["t"], step, failures, name="test", log=logging.getLogger("test"))  # type: ignore[arg-type]


def test_offsets_the_step_acknowledged_are_committed():
    consumer = FakeConsumer({A: 5, B: 2})
    loop = loop_over(consumer, Step())
    assert loop.poll_once() == 5
    assert consumer.committed == {A: 3, B: 2}


def test_a_step_that_acknowledges_nothing_commits_nothing():
    consumer = FakeConsumer({A: 5})

    class Holding(Step):
        def handle(self, polled: Polled) -> Handled:
            return Handled(3)

    loop_over(consumer, Holding()).poll_once()
    assert consumer.committed == {}


def test_a_failed_step_reads_its_whole_batch_again_and_commits_none_of_it():
    failures = iter([True, False, False])
    consumer = FakeConsumer({A: 4, B: 2})
    step = Step(fail_on=lambda polled: next(failures))
    loop = loop_over(consumer, step)
    with pytest.raises(RuntimeError):
        loop.poll_once()
    assert consumer.committed == {} and len(step.recovered) == 1
    assert consumer.position == {A: 0, B: 0}  # sought back to the batch's first offsets
    loop.poll_once()
    loop.poll_once()
    assert sorted(step.seen) == [(A, 0), (A, 1), (A, 2), (A, 3), (B, 0), (B, 1)]
    assert consumer.committed == {A: 4, B: 2}


def test_run_backs_off_after_a_failure_and_goes_on_until_stopped():
    consumer = FakeConsumer({A: 9})
    failures = iter([True, True, False, False, False])
    step = Step(fail_on=lambda polled: bool(polled) and next(failures, False))
    stop = threading.Event()
    loop = loop_over(consumer, step)
    worker = threading.Thread(target=loop.run, args=(stop,))
    worker.start()
    try:
        for _ in range(200):
            if consumer.committed.get(A) == 9:
                break
            stop.wait(0.01)
    finally:
        stop.set()
        worker.join(5)
    assert consumer.committed == {A: 9}
    assert len(step.recovered) == 2
    assert sorted(step.seen) == [(A, o) for o in range(9)]  # each record handled once it succeeded


def test_rebalance_callbacks_reach_the_step_and_close_does_not_autocommit():
    consumer = FakeConsumer({A: 1})
    step = Step()
    loop = loop_over(consumer, step)
    consumer.listener.on_partitions_assigned([A, B])
    assert step.assigned_to == [A, B]
    loop.close()
    assert consumer.closed and consumer.committed == {}
