"""Monitor: batch scoring, drift, live performance, alerts and the loop's timeline."""
