"""Benchmarks: each bench_*.py prints its figures and writes JSON (see __main__)."""
