"""The CLI as a user runs it: real subprocesses, real exit codes, one-line errors."""
import json
import subprocess
import sys

import pytest


def sslcore(*args, runs_dir=None, check=False):
    cmd = [sys.executable, "-m", "sslcore"] + (["--runs-dir", str(runs_dir)] if runs_dir else []) + list(args)
    return subprocess.run(cmd, capture_output=True, text=True, timeout=300, check=check)


def last_json(out):
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_datasets_lists_every_dataset():
    out = sslcore("--json", "datasets", check=True)
    names = [d["name"] for d in last_json(out)["datasets"]]
    assert names[:2] == ["shapes", "digits"] and {"cifar10", "stl10", "folder"} <= set(names)
    human = sslcore("datasets", check=True).stdout
    assert "shapes" in human and "stl10" in human


def test_methods_lists_methods_backbones_presets():
    data = last_json(sslcore("--json", "methods", check=True))
    assert [m["name"] for m in data["methods"]] == ["barlow_twins", "simclr", "relational", "byol", "simsiam",
                                                    "vicreg", "moco", "supervised", "random"]
    assert {b["name"] for b in data["backbones"]} == {"convnet", "resnet18_cifar", "resnet18", "resnet34",
                                                      "resnet50"}
    assert {p["name"] for p in data["presets"]} >= {"barlow_twins", "simclr", "byol", "keras_barlow", "weak", "none"}


def test_train_foreground_with_progress_and_json(tmp_path):
    out = sslcore("train", "--method", "barlow_twins", "--dataset", "shapes", "--epochs", "1", "--train-size", "64",
                  "--image-size", "16", "--batch-size", "16", "--projector-dim", "32", "--json", runs_dir=tmp_path)
    assert out.returncode == 0, out.stderr[-2000:]
    result = last_json(out)
    assert result["status"] == "finished" and result["step"] == 4
    assert "loss" in result["metrics"] and "invariance" in result["metrics"]
    assert "4/4" in out.stderr  # the tqdm progress bar
    runs = last_json(sslcore("--json", "runs", runs_dir=tmp_path))["runs"]
    assert [r["id"] for r in runs] == [result["id"]]


@pytest.mark.parametrize("args, field", [
    (["--dataset", "imagenet"], "dataset"), (["--method", "dino"], "method"), (["--backbone", "vit"], "backbone"),
    (["--augment", "heavy"], "augment"), (["--epochs", "0"], "epochs"), (["--batch-size", "1"], "batch_size"),
    (["--image-size", "-3"], "image_size"), (["--backbone", "resnet50", "--image-size", "16"], "image_size"),
    (["--set", "view9.blur_p=1"], "overrides"), (["--dataset", "cifar10", "--data-root", "/nonexistent"], "data_root"),
])
def test_bad_input_is_one_line_naming_the_field(tmp_path, args, field):
    out = sslcore("train", *args, runs_dir=tmp_path)
    assert out.returncode == 2
    line = out.stderr.strip()
    assert "\n" not in line and line.startswith(f"error: {field}"), line


def test_unknown_run_id(tmp_path):
    for verb in ("status", "cancel", "resume", "export"):
        out = sslcore(verb, "20260101-000000-simclr-abcdef", runs_dir=tmp_path)
        assert out.returncode == 2 and "not found" in out.stderr and "\n" not in out.stderr.strip()
