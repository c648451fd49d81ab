"""Features: point-in-time feature SQL over a gate-passed snapshot, and the checks that guard it."""
