"""Docs check: the commands and links in the README, docs/ and bench/README.md stay true.

Every `finsent ...` command in a shell block must parse with FinSent's own command line (so a
renamed flag or a flag moved to another command fails here), every script a command names must
exist, and every relative link must point to a file that exists. The commands that do real work
are run elsewhere: the two commands by CI itself, the model commands by test_model_lifecycle.py,
`finsent run`/`aggregate` against a broker by the integration tests."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest

from finsent.cli import build_parser

REPO = Path(__file__).resolve().parents[2]
DOCS = [REPO / "README.md", REPO / "bench" / "README.md", *sorted((REPO / "docs").glob("*.md"))]


def shell_commands(path: Path) -> list[str]:
    """Lines of ```bash blocks, continuations joined, comments and `[optional]` parts removed."""
    out = []
    for block in re.findall(r"```(?:bash|sh)\n(.*?)```", path.read_text(), flags=re.S):
        for line in block.replace("\\\n", " ").splitlines():
            line = re.sub(r"\s+#.*$", "", line).strip()
            line = re.sub(r"\[[^\]]*\]", "", line).strip()
            if line and not line.startswith("#"):
                out.append(line)
    return out


def all_commands() -> list[tuple[str, str]]:
    return [(p.relative_to(REPO).as_posix(), c) for p in DOCS for c in shell_commands(p)]


@pytest.mark.parametrize(("doc", "command"), [c for c in all_commands() if "finsent " in c[1]])
def test_documented_finsent_commands_parse(doc, command):
    words = shlex.split(command)
    start = next(i for i, w in enumerate(words) if w.endswith("finsent"))
    args = words[start + 1 :]
    if "--help" in args:
        return
    build_parser().parse_args(args)  # SystemExit (a failure) on an unknown or misplaced flag


@pytest.mark.parametrize(("doc", "command"), all_commands())
def test_documented_scripts_exist(doc, command):
    words = shlex.split(command)
    for before, word in zip(["", *words], words, strict=False):
        if re.fullmatch(r"(\./)?(deploy|\.ci|bench)/[\w./-]+\.(sh|py)", word) or word == ".ci/run":
            assert (REPO / word).is_file(), f"{doc}: {word} does not exist"
        if before == "-m" and word.split(".")[0] == "bench":
            assert (REPO / (word.replace(".", "/") + ".py")).is_file(), f"{doc}: no module {word}"


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: p.relative_to(REPO).as_posix())
def test_relative_links_resolve(doc):
    for target in re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", doc.read_text()):
        if "://" in target:
            continue
        assert (doc.parent / target).exists(), f"{doc.name}: broken link {target}"


def test_readme_is_a_user_guide_not_a_reference():
    assert len((REPO / "README.md").read_bytes()) <= 15_500
