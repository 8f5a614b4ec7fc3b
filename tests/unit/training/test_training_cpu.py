"""CPU-first training: bf16 where the CPU has it (checked against fp32), resumable runs that end
where an uninterrupted run ends, the max length chosen from the data, teacher logits cached."""

from __future__ import annotations

import random
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("torch")

from finsent.demo.model import DEMO_TRAIN
from finsent.training.checkpoint import RESUME_FILE, ResumeMismatch
from finsent.training.config import TrainConfig
from finsent.training.data import load
from finsent.training.precision import cpu_has_bf16, resolve_precision
from support.tiny_models import tiny_bert_base

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def base(tmp_path_factory) -> Path:
    return tiny_bert_base(tmp_path_factory.mktemp("base") / "tiny-bert")


@pytest.fixture(scope="module")
def examples():
    return load([DEMO_TRAIN])[0][:80]


def cfg(base: Path, **kw) -> TrainConfig:
    defaults = dict(
        base=str(base),
        epochs=2,
        batch_size=8,
        lr=1e-3,
        max_length=32,
        eval_fraction=0.2,
        patience=5,
        progress=False,
        precision="fp32",
        checkpoint_every_s=0,
        device="cpu",
    )
    return TrainConfig(**(defaults | kw))


def weights(folder: Path) -> dict[str, np.ndarray]:
    from safetensors.numpy import load_file

    return load_file(str(folder / "model.safetensors"))


def test_bf16_is_detected_from_the_cpu_flags(tmp_path):
    with_bf16 = tmp_path / "a"
    with_bf16.write_text("processor : 0\nflags : fpu sse avx512f avx512_bf16 avx512_vnni\n")
    with_amx = tmp_path / "b"
    with_amx.write_text("flags : fpu amx_bf16 amx_tile\n")
    without = tmp_path / "c"
    without.write_text("flags : fpu sse avx2 avx512f\n")
    assert cpu_has_bf16(with_bf16) and cpu_has_bf16(with_amx)
    assert not cpu_has_bf16(without)
    assert not cpu_has_bf16(tmp_path / "missing")


def test_auto_precision_follows_the_cpu_and_explicit_choices_are_kept():
    assert resolve_precision("auto", "cpu") == ("bf16" if cpu_has_bf16() else "fp32")
    assert resolve_precision("fp32", "cpu") == "fp32"
    assert resolve_precision("bf16", "cpu") == "bf16"
    with pytest.raises(ValueError, match="precision 'fp16'"):
        resolve_precision("fp16", "cpu")


def test_bf16_training_gives_what_fp32_gives_on_a_small_run(base, examples, tmp_path):
    """bf16 autocast must not change what is learned beyond rounding: the same seed and data end
    with close losses and mostly the same predictions."""
    from finsent.training.train import train

    fp32 = train(examples, tmp_path / "fp32", cfg(base, precision="fp32"))
    bf16 = train(examples, tmp_path / "bf16", cfg(base, precision="bf16"))
    assert bf16["precision"] == "bf16" and fp32["precision"] == "fp32"
    for a, b in zip(fp32["history"], bf16["history"], strict=True):
        assert abs(a["loss"] - b["loss"]) < 0.05 * max(1.0, a["loss"])
    assert abs(fp32["metrics"]["accuracy"] - bf16["metrics"]["accuracy"]) <= 0.15


class Killed(Exception):
    """Stands for SIGKILL: not TrainingCancelled, so train() cleans nothing up."""


def test_a_run_killed_mid_epoch_resumes_to_the_uninterrupted_result(base, examples, tmp_path):
    from finsent.training.train import train

    whole = train(examples, tmp_path / "whole", cfg(base))
    calls = {"n": 0}

    def kill_at_step_11() -> bool:  # step 11 of 16: in the second epoch, after a checkpoint
        calls["n"] += 1
        if calls["n"] == 12:
            raise Killed
        return False

    out = tmp_path / "resumed"
    with pytest.raises(Killed):
        train(examples, out, cfg(base, checkpoint_every_s=1e-9), should_stop=kill_at_step_11)
    assert (out.with_name("resumed.partial") / RESUME_FILE).is_file()
    assert not out.exists()
    # Other random draws in between must not matter: the checkpoint carries the random states.
    random.random()
    np.random.rand()
    resumed = train(examples, out, cfg(base, checkpoint_every_s=1e-9, resume=True))
    assert resumed["resumed_at_step"] == 11
    assert resumed["steps"] == whole["steps"] == 16
    assert [h["loss"] for h in resumed["history"]] == pytest.approx([h["loss"] for h in whole["history"]])
    a, b = weights(tmp_path / "whole"), weights(out)
    assert a.keys() == b.keys()
    for name in a:
        np.testing.assert_allclose(a[name], b[name], atol=1e-6, err_msg=name)
    assert not (out / RESUME_FILE).exists()  # a finished run leaves no resume file behind


def test_resuming_with_other_data_is_refused(base, examples, tmp_path):
    from finsent.training.train import train

    out = tmp_path / "m"
    with pytest.raises(Killed):
        train(examples, out, cfg(base, checkpoint_every_s=1e-9), should_stop=_kill_after(3))
    with pytest.raises(ResumeMismatch, match="other settings or data"):
        train(examples[:-5], out, cfg(base, resume=True))
    with pytest.raises(ResumeMismatch):
        train(examples, out, cfg(base, resume=True, lr=5e-4))


def _kill_after(n: int):
    calls = {"n": 0}

    def check() -> bool:
        calls["n"] += 1
        if calls["n"] > n:
            raise Killed
        return False

    return check


def test_resume_without_a_checkpoint_starts_a_new_run(base, examples, tmp_path):
    from finsent.training.train import train

    meta = train(examples, tmp_path / "m", cfg(base, resume=True, epochs=1))
    assert meta["resumed_at_step"] is None and meta["steps"] == 8


def test_max_length_auto_covers_the_training_texts(base, examples, tmp_path):
    from transformers import AutoTokenizer

    from finsent.training.train import choose_max_length, train

    tok = AutoTokenizer.from_pretrained(str(base))
    lengths = sorted(len(t) for t in tok([e.text for e in examples])["input_ids"])
    chosen = choose_max_length(base, [e.text for e in examples])
    assert chosen % 8 == 0 and 8 <= chosen <= 256
    assert chosen >= lengths[int(0.98 * len(lengths))]
    assert choose_max_length(base, ["word " * 400]) == 256
    meta = train(examples, tmp_path / "m", cfg(base, max_length=0, epochs=1))
    assert meta["config"]["max_length"] == chosen


def test_teacher_logits_are_computed_once_and_reused(base, examples, tmp_path, monkeypatch):
    from finsent.training import classifier, distill
    from finsent.training.train import train

    teacher = tmp_path / "teacher"
    train(examples, teacher, cfg(base, epochs=1))
    texts = [e.text for e in examples]
    cache = tmp_path / "cache"
    first, _ = distill.teacher_logits(teacher, texts, 32, "cpu", "fp32", cache)
    assert len(list(cache.glob("*.npz"))) == 1

    def no_model(*_a, **_k):
        raise AssertionError("the teacher was loaded again")

    monkeypatch.setattr(classifier, "load_classifier", no_model)
    again, _ = distill.teacher_logits(teacher, texts, 32, "cpu", "fp32", cache)
    np.testing.assert_array_equal(first, again)
    monkeypatch.undo()
    # Other texts are other logits: a new entry, not a stale hit.
    distill.teacher_logits(teacher, texts[:10], 32, "cpu", "fp32", cache)
    assert len(list(cache.glob("*.npz"))) == 2


def test_distillation_resumes_with_the_cached_teacher_logits(base, examples, tmp_path):
    from finsent.training.distill import distill
    from finsent.training.train import train

    teacher = tmp_path / "teacher"
    train(examples, teacher, cfg(base, epochs=1))
    student_cfg = replace(
        cfg(base, epochs=1, checkpoint_every_s=1e-9, distill_temperature=2.0),
        extra={"teacher_cache": tmp_path / "cache"},
    )
    out = tmp_path / "student"
    with pytest.raises(Killed):
        distill(teacher, examples, [], out, student_cfg, should_stop=_kill_after(4))
    meta = distill(teacher, examples, [], out, replace(student_cfg, resume=True))
    assert meta["resumed_at_step"] == 4 and meta["distillation"]["temperature"] == 2.0
