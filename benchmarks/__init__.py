"""Benchmarks of the relay (`make bench`): they print numbers and assert nothing."""
