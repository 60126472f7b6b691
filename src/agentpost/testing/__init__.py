"""Importable test helpers (factories), shared by the test suite and the benchmarks."""
