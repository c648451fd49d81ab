"""mlops_assets: a governed ML lifecycle on Dagster.

xgboost's OpenMP threads (libgomp) spin for about 300,000 iterations before sleeping whenever they
wait for each other, and a boosting round waits many times. When another process holds one of the
cores (the Dagster daemon, a sensor, another run, a test suite), a spinning thread burns the time
slice its partner needs: on 2 cores under load a round took 6-9x longer (benchmarks/results.md,
"Training profile"). A passive policy makes them sleep at once; the computation, and so every model,
is the same. libgomp reads the variable only when it is first loaded, so it is set here, before any
module of the platform imports xgboost; a value the user set wins.
"""

import os

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
