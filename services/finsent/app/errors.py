"""What the command line tells a user about an error that ends a command: the errors whose message
says what to fix, by kind, and the exit code (2: fix the input or the settings; 1: the rest)."""

from __future__ import annotations

__all__ = ["describe"]


def describe(exc: Exception) -> tuple[str, int]:
    """(the line to print, the exit code) for `exc`."""
    from finsent.kafka.security import KafkaSecurityError
    from finsent.locks import LockBusy
    from finsent.retrain.promote import RollbackError
    from finsent.training.bases import BaseError
    from finsent.training.data import DataError

    if isinstance(exc, KafkaSecurityError):  # retrying cannot help: say what to fix
        return f"finsent: Kafka security: {exc}", 2
    kinds: dict[type[Exception], str] = {
        DataError: "data error",
        BaseError: "base model",
        RollbackError: "rollback",
        LockBusy: "busy",
    }
    kind = next((k for t, k in kinds.items() if isinstance(exc, t)), type(exc).__name__)
    return f"finsent: {kind}: {exc}", 1
