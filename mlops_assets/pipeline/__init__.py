"""The jobs' work as plain calls (ingest a day, train a model): for benchmarks, tests and scripts."""
