"""Settings for the whole suite."""
from __future__ import annotations

import os

# The suite shares two cores between pytest, the servers and commands it starts, and a browser:
# there OpenMP threads that spin while waiting take the cores from the process with work to do
# (measured 2x slower UNet calls beside another busy process), so everything it starts waits
# passively, as a user who shares their cores would set it (README, "Benchmarks").
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
