"""app.build_model's own checks of its arguments (the command line is not its only caller)."""

from __future__ import annotations

from pathlib import Path

import pytest

from finsent.app.model import build_model


@pytest.mark.parametrize("flag", ["teacher_epochs", "student_epochs"])
def test_zero_epochs_is_refused_not_read_as_the_recipes_default(tmp_path: Path, flag: str):
    with pytest.raises(ValueError, match=f"{flag} must be at least 1"):
        build_model(tmp_path / "data", tmp_path / "out", **{flag: 0})
    assert not (tmp_path / "out").exists()  # refused before anything was built
