"""Fixtures of the evaluate tests: tiny base model, real PEFT adapters, tau2 calls, and a
fake LLM judge speaking the OpenAI chat-completions protocol on 127.0.0.1."""

from testkit.tiny_adapters import airline, fake_judge, tiny_adapters  # noqa: F401
