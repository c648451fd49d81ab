"""Monitoring: scoring, drift and live performance of the champion, and the rules that retrain."""
