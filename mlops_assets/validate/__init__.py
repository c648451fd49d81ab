"""Validate: the data gates every raw snapshot must pass before features are computed from it."""
