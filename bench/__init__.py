"""Benchmarks (scripts that print JSON; see README.md)."""
