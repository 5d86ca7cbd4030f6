"""What every command shares: lazily loaded settings and stores, errors, JSON output."""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

if TYPE_CHECKING:
    from slimline.config import Settings
    from slimline.store import RawStore, WorkStore


@dataclass
class State:
    home: Path | None = None
    config: Path | None = None
    profile: str | None = None
    _settings: Settings | None = field(default=None, repr=False)

    def settings(self) -> Settings:
        """Load the settings once and wire Prefect, MLflow and logs to them."""
        if self._settings is None:
            from slimline.config import ConfigError, load_settings
            from slimline.runtime import configure

            try:
                self._settings = load_settings(self.config, home=self.home, profile=self.profile)
            except ConfigError as exc:
                fail(str(exc))
            configure(self._settings)
        return self._settings

    def raw(self) -> RawStore:
        """The raw store: for collect's and scrub's commands (and `status`) only."""
        from slimline.store import open_raw

        return self._open(open_raw)

    def work(self) -> WorkStore:
        """The work store."""
        from slimline.store import open_work

        return self._open(open_work)

    def _open(self, opener: Any) -> Any:
        from slimline.store import StoreUnavailable

        try:
            return opener(self.settings())
        except StoreUnavailable as exc:
            fail(str(exc))
            raise  # unreachable


def state(ctx: typer.Context) -> State:
    return ctx.ensure_object(State)


def fail(message: str, code: int = 2) -> None:
    """Print an error on stderr and exit with `code`."""
    typer.secho(f"error: {message}", err=True, fg=typer.colors.RED)
    raise typer.Exit(code)


def emit(data: dict[str, Any], as_json: bool, human: str | None = None) -> None:
    """Print `data` as JSON, or `human` (or key: value lines) for a person."""
    if as_json:
        sys.stdout.write(json.dumps(data, indent=2, default=str) + "\n")
        return
    if human is not None:
        typer.echo(human)
        return
    width = max((len(k) for k in data), default=0)
    for key, value in data.items():
        typer.echo(f"{key:<{width}}  {value}")
