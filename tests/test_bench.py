import json
import subprocess
import sys

import pytest


@pytest.mark.slow
def test_quick_bench_prints_every_case_with_ratios():
    out = subprocess.run([sys.executable, "-m", "sslcore", "bench", "--quick", "--json"], capture_output=True,
                         text=True, timeout=600)
    assert out.returncode == 0, out.stderr[-2000:]
    result = json.loads(out.stdout.strip().splitlines()[-1])
    cases = [r["case"] for r in result["rows"]]
    assert any("augmentation, 32 px" in c for c in cases) and any("Barlow Twins step" in c for c in cases)
    assert any("logging" in c for c in cases) and any("kNN" in c for c in cases)
    assert all(r["ratio"] > 0 and r["goal"] for r in result["rows"])
