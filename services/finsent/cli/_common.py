"""What every command shares: the settings flags (one per `Settings` field the command uses, grouped
by concern), reading them back into one `Settings`, and logging."""

from __future__ import annotations

import argparse
import types
import typing
from typing import Any

from finsent.app.logs import setup_logging
from finsent.settings import SECRETS, Settings, command_fields

__all__ = ["HelpFormatter", "add_settings_flags", "settings_from_args", "setup_logging"]


class HelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """argparse's "(default: X)" where it tells the user something: not on a settings flag (its help
    already gives the env name and the default, and its argparse default is None so that the
    settings object decides), not on an on/off switch, not where the help names its default."""

    def _get_help_string(self, action: argparse.Action) -> str | None:
        text = action.help or ""
        if action.default is None or action.nargs == 0 or "default" in text:
            return text
        return super()._get_help_string(action)


def _scalar_type(annotation: Any) -> Any:
    args = [a for a in typing.get_args(annotation) if a is not type(None)]
    if typing.get_origin(annotation) in (typing.Union, types.UnionType) and args:
        return _scalar_type(args[0])
    if typing.get_origin(annotation) is typing.Annotated:
        return _scalar_type(args[0])
    return annotation


def add_settings_flags(parser: argparse.ArgumentParser, command: str) -> None:
    """The flags of the settings `command` uses, one argument group per concern."""
    for title, names in command_fields(command).items():
        secrets = [n for n in names if n in SECRETS]
        description = None
        if secrets:
            description = "secrets, from the environment or a file only (never a flag): " + ", ".join(
                f"FINSENT_{n.upper()}[_FILE]" for n in secrets
            )
        group = parser.add_argument_group(
            f"{title} (each also FINSENT_<NAME> in the environment)", description
        )
        for name in names:
            if name not in SECRETS:
                _add_flag(group, name)


def _add_flag(group: argparse._ArgumentGroup, name: str) -> None:
    field = Settings.model_fields[name]
    flag = "--" + name.replace("_", "-")
    help_text = f"{field.description} [env FINSENT_{name.upper()}; default {field.default}]"
    if _scalar_type(field.annotation) is bool:
        group.add_argument(
            flag, dest=name, action=argparse.BooleanOptionalAction, default=None, help=help_text
        )
    else:
        metavar = "HOST:PORT" if name == "kafka" else name.upper()
        group.add_argument(flag, dest=name, default=None, metavar=metavar, help=help_text)


def settings_from_args(args: argparse.Namespace) -> Settings:
    overrides = {k: v for k, v in vars(args).items() if k in Settings.model_fields and v is not None}
    return Settings(**overrides)
