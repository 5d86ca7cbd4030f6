"""The decoding tests' fixtures live in tool_caller.py (importable by that unique name)."""

from tool_caller import smol_tokenizer, tiny, tool_caller  # noqa: F401
