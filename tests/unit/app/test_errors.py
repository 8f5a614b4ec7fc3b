"""What a failed command tells the user: the kind of error and an exit code, never a traceback."""

from __future__ import annotations

import pytest

from finsent.app.errors import describe
from finsent.kafka.security import KafkaSecurityError
from finsent.locks import LockBusy
from finsent.retrain.promote import RollbackError
from finsent.training.bases import BaseError
from finsent.training.data import DataError


@pytest.mark.parametrize(
    ("exc", "line", "code"),
    [
        (KafkaSecurityError("no CA file"), "finsent: Kafka security: no CA file", 2),
        (DataError("a.csv: no text column"), "finsent: data error: a.csv: no text column", 1),
        (BaseError("no such base"), "finsent: base model: no such base", 1),
        (RollbackError("no earlier version"), "finsent: rollback: no earlier version", 1),
        (LockBusy("held by pid 7"), "finsent: busy: held by pid 7", 1),
        (OSError("disk full"), "finsent: OSError: disk full", 1),
    ],
)
def test_each_error_is_named_by_its_kind_with_an_exit_code(exc: Exception, line: str, code: int):
    assert describe(exc) == (line, code)


def test_a_subclass_is_named_by_its_parents_kind():
    class MissingColumn(DataError):
        pass

    assert describe(MissingColumn("x")) == ("finsent: data error: x", 1)
