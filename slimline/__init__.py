"""slimline: turn the LLM calls agents make into small language models that take them over."""

__version__ = "0.1.0"
