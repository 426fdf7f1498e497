"""The kill -9 checks of scripts/reliability/killtest.py, 10,000 evaluations each."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

KILLTEST = Path(__file__).resolve().parents[2] / "scripts" / "reliability" / "killtest.py"


@pytest.mark.slow
@pytest.mark.timeout(600)
@pytest.mark.parametrize("scenario", ["gateway", "redis"])
def test_every_accepted_evaluation_at_the_store_exactly_once(scenario):
    done = subprocess.run([sys.executable, str(KILLTEST), "--n", "10000", "--scenario",
                           scenario, "--json"], capture_output=True, text=True, timeout=580)
    [result] = json.loads(done.stdout.strip().splitlines()[-1])
    print(result)
    assert result["accepted"] == 10000
    assert result["expected_records"] == 12000  # 10 % batches of 3 items
    assert result["missing"] == 0 and result["unexpected"] == 0
    assert result["at_store"] == 12000
    assert done.returncode == 0
