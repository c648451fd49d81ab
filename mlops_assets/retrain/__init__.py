"""Retrain: the rules that turn drift and performance history into a retraining request."""
