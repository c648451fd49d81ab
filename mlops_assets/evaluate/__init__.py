"""Evaluate: the candidate against the champion and a baseline, with intervals and plots."""
