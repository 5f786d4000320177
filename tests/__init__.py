"""The test suite; a package so that tests and benchmarks import the doubles as `tests.doubles`."""
