"""The `slimline` command line.

Global options (--home, --config, --profile) are read here; each stage adds its commands in
its own module of this package (`collect.py`, `scrub.py`, ...), found at start-up, so a
stage's commands arrive with the stage. Settings are loaded when a command runs, never at
import.
"""

from __future__ import annotations

import importlib
import pkgutil
from pathlib import Path

import typer

from slimline.cli.common import State

app = typer.Typer(
    name="slimline",
    help="Turn the LLM calls your agents make into small language models that take them over.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


@app.callback()
def main(
    ctx: typer.Context,
    home: Path | None = typer.Option(
        None, "--home", envvar="SLIMLINE_HOME", help="state folder (default ./.slimline)"
    ),
    config: Path | None = typer.Option(
        None, "--config", envvar="SLIMLINE_CONFIG", help="YAML config (default ./slimline.yaml)"
    ),
    profile: str | None = typer.Option(None, "--profile", help="named profile, e.g. demo"),
) -> None:
    ctx.obj = State(home=home, config=config, profile=profile)


for _mod in pkgutil.iter_modules(__path__):
    if _mod.name != "common":
        importlib.import_module(f"{__name__}.{_mod.name}").register(app)
