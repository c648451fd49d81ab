"""Ingest: where data comes from, the landing zone, and content-addressed snapshots of each partition."""
