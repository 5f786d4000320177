"""Benchmarks: one module per scenario; each prints numbers and asserts nothing."""
