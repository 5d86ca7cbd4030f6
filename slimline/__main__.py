"""`python -m slimline` runs the CLI."""

from slimline.cli import app

app(prog_name="slimline")
