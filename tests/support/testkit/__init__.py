"""Helpers shared by several test folders (tiny models, adapters, stores of real calls)."""
