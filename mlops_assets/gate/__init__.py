"""Gate: the promotion gates a candidate must pass, and the overrides people may grant."""
