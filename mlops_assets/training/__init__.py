"""Training: the snapshot a model learns from, and the model itself."""
