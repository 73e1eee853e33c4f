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


@pytest.mark.slow
def test_recipe_case_times_the_real_trainer_on_a_small_batch():
    """The GPU recipe case's shape on a CPU: the recipe's model and a batch of 8 (its 512 takes minutes a step here)."""
    from sslcore.bench import bench_recipe

    (row,) = bench_recipe("keras_barlow_twins_cifar10", ("resnet18_cifar",), 1, "cpu", repeats=1, batch_size=8)
    assert row["case"].startswith("keras_barlow_twins_cifar10, resnet18_cifar, batch 8, 32 px, projector 5000")
    assert "pairs/s" in row["ours"] and "its augmentation" in row["ours"] and row["ratio"] > 0


def test_recipe_case_refuses_a_cpu_in_one_line():
    out = subprocess.run([sys.executable, "-m", "sslcore", "bench", "--case", "recipe_gpu"], capture_output=True,
                         text=True, timeout=120)
    assert out.returncode != 0 and "--device cuda" in out.stderr and "Traceback" not in out.stderr
