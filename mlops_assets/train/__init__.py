"""Train: the snapshot a model learns from, the model itself, and its smoke sample."""
