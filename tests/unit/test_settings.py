"""The one settings object and the flags made from it: precedence, sections, each command's flags."""

from __future__ import annotations

import argparse

import pytest

from finsent.settings import Settings


def test_settings_env_then_cli_precedence(monkeypatch):
    monkeypatch.setenv("FINSENT_MAX_BATCH", "77")
    monkeypatch.setenv("FINSENT_KAFKA", "127.0.0.1:9092")
    assert Settings().max_batch == 77
    assert Settings(max_batch=5).max_batch == 5
    assert not Settings().embedded
    monkeypatch.setenv("FINSENT_KAFKA", "nonsense")
    with pytest.raises(ValueError, match="HOST:PORT"):
        Settings()


def test_cli_flags_override_env(monkeypatch):
    from finsent.cli import build_parser, settings_from_args

    monkeypatch.setenv("FINSENT_MAX_LINGER_MS", "900")
    args = build_parser().parse_args(["run", "--max-linger-ms", "15", "--no-create-topics"])
    s = settings_from_args(args)
    assert s.max_linger_ms == 15 and s.create_topics is False


def test_each_command_takes_only_the_settings_it_uses():
    from finsent.cli import build_parser
    from finsent.settings import COMMANDS, command_fields

    def help_of(command: str) -> str:
        sub = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))
        return sub.choices[command].format_help()

    produce, aggregate, run = help_of("produce"), help_of("aggregate"), help_of("run")
    assert "--news-topic" in produce and "--spike-z" not in produce and "--webhook-urls" not in produce
    assert "--max-batch" not in produce and "--kafka-session-timeout-ms" not in produce
    assert "--spike-z" in aggregate and "--webhook-max-age" in aggregate
    assert "--max-batch" not in aggregate and "--triton" not in aggregate
    assert "--max-batch" in run and "--spike-z" in run  # embedded run aggregates in-process
    assert "--webhook-max-age" not in run  # delivery from the alerts topic is the aggregator's
    taken = {n for c in COMMANDS for names in command_fields(c).values() for n in names}
    assert taken == set(Settings.model_fields)
    with pytest.raises(SystemExit):
        build_parser().parse_args(["produce", "--spike-z", "3"])


def test_every_setting_is_declared_in_one_section_whose_commands_exist():
    """The sections are read from the fields: a field outside any, or an `also` naming a command
    that does not exist (a typo would drop the flag silently), fails here."""
    from finsent.cli import build_parser
    from finsent.settings import GROUPS, SECTIONS

    assert sorted(n for names in GROUPS.values() for n in names) == sorted(Settings.model_fields)
    sub = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    labels = next(a for a in sub.choices["labels"]._actions if isinstance(a, argparse._SubParsersAction))
    commands = set(sub.choices) | {"labels-consume"}
    assert labels.choices.keys() >= {"import", "stats", "consume"}
    for section in SECTIONS:
        assert set(section.commands) <= commands, section
    for name, field in Settings.model_fields.items():
        assert isinstance(field.json_schema_extra, dict)
        assert set(field.json_schema_extra["also"]) <= commands, name
