"""Dagster wiring: thin asset, check, job and resource definitions over the plain modules."""
