"""Prompt templates live in files beside this module and are rendered strictly: a variable the
template names but the caller did not pass is an error, never an empty string."""

from __future__ import annotations

from importlib import resources
from string import Template

from shared.errors import ConfigError


def render(name: str, **values: str) -> str:
    text = resources.files(__package__).joinpath(f"{name}.md").read_text(encoding="utf-8")
    try:
        return Template(text).substitute(values)
    except KeyError as exc:
        raise ConfigError(f"prompt template {name}.md needs a value for {exc.args[0]}") from None
    except ValueError as exc:
        raise ConfigError(f"prompt template {name}.md is malformed: {exc}") from None
