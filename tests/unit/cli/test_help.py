"""Every command's --help: each flag's default said once, where it tells the user something."""

from __future__ import annotations

import argparse
import re

import pytest

from finsent.cli import build_parser


def commands() -> dict[str, argparse.ArgumentParser]:
    sub = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    return dict(sub.choices)


@pytest.mark.parametrize("name", sorted(commands()))
def test_help_says_each_default_once_and_never_none(name: str):
    text = " ".join(commands()[name].format_help().split())  # argparse wraps lines anywhere
    assert "(default: None)" not in text
    assert "(default: False)" not in text
    # A flag whose help gives its default ("[env ...; default 3000]") gets no second one from argparse.
    assert not re.search(r"default[^()]*\) \(default:", text) and not re.search(
        r"default [^\]]*\] \(default:", text
    )


def test_a_plain_flag_with_a_default_still_shows_it():
    text = " ".join(commands()["build-model"].format_help().split())
    assert "the seed of both models' training (default: 42)" in text
