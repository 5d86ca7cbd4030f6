"""The scrub stage."""
