"""DDP through torchrun on CPU (gloo, 2 processes): exact losses and gradients, one set of records, resume."""
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from sslcore.methods import METHODS
from sslcore.runs import RunStore

sys.path.insert(0, str(Path(__file__).parent))
import ddp_check  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent


def torchrun(*args, **kw):
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONPATH=str(ROOT))
    return subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node=2",
                           *args], capture_output=True, text=True, env=env, cwd=ROOT, **kw)


@pytest.fixture(scope="module")
def two_process_results(tmp_path_factory):
    out = tmp_path_factory.mktemp("ddp") / "results.pt"
    proc = torchrun(str(ROOT / "tests" / "ddp_check.py"), str(out), timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return torch.load(out, weights_only=True)


@pytest.mark.parametrize("name", [n for n, c in METHODS.items() if c.trainable])
def test_two_ranks_match_one_process(two_process_results, name):
    model = ddp_check.model_for(name)
    views, labels = ddp_check.fixed_batch(model.num_views)
    out = model(*views, y=labels)
    out.loss.backward()
    got = two_process_results[name]
    assert got["loss"] == pytest.approx(float(out.loss.detach()), rel=1e-4, abs=1e-5)
    grads = {k: p.grad for k, p in model.named_parameters() if p.grad is not None}
    assert set(grads) == set(got["grads"])
    # Per tensor, relative to its own norm (plus a sliver of the whole gradient's norm, for the biases that sit
    # right before a BatchNorm and whose exact gradient is 0).
    total = torch.cat([g.flatten() for g in grads.values()]).norm()
    for k, g in grads.items():
        error = (got["grads"][k] - g).norm() / (g.norm() + 1e-3 * total)
        assert error < 2e-3, f"{name}: {k} differs by {error:.1e}"


def _sslcore_train(runs_dir, *extra, background=False):
    args = ["-m", "sslcore", "--runs-dir", str(runs_dir), "train", *extra]
    if background:
        env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONPATH=str(ROOT))
        return subprocess.Popen([sys.executable, "-m", "torch.distributed.run", "--standalone",
                                 "--nproc-per-node=2", *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                text=True, env=env, cwd=ROOT)
    return torchrun(*args, timeout=600)


@pytest.mark.slow
def test_two_process_run_records_once_cancels_and_resumes(tmp_path):
    tiny = ["--train-size", "128", "--image-size", "16", "--batch-size", "16", "--projector-dim", "32",
            "--log-every", "1", "--device", "cpu", "--epochs", "30"]
    proc = _sslcore_train(tmp_path, *tiny, background=True)
    store = RunStore(tmp_path)
    deadline = time.time() + 300
    while time.time() < deadline and not (store.list_runs() and store.checkpoints(store.list_runs()[0].id)):
        time.sleep(0.5)
    (run,) = store.list_runs()
    assert run.world_size == 2
    store.cancel(run.id)
    proc.communicate(timeout=120)
    run = store.get(run.id)
    assert run.status == "cancelled" and proc.returncode == 1

    resumed = _sslcore_train(tmp_path, "--resume", run.id, "--json")
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert len([line for line in resumed.stdout.splitlines() if line.startswith("{")]) == 1  # rank 0 alone prints
    result = json.loads(resumed.stdout.strip().splitlines()[-1])
    assert result["status"] == "finished" and result["step"] == 30 * 8 and result["world_size"] == 2
    assert [r.id for r in store.list_runs()] == [run.id]
    assert store.metrics(run.id)["loss"]["step"] == list(range(1, 241))
    assert [s for s, _ in store.checkpoints(run.id)][-1] == 240
