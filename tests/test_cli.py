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


# ---- issue 16: every fault and bad input answered in one line ---------------------------------------------------
@pytest.mark.parametrize("args, line", [
    (["--epochs", "1.5"], "error: epochs: expected a whole number, got '1.5'; see `python -m sslcore launch --help`"),
    (["--lr", "abc"], "error: lr: expected a number, got 'abc'; see `python -m sslcore launch --help`"),
    (["--lr", "nan"], "error: lr: must be a finite number, got 'nan'; see `python -m sslcore launch --help`"),
    (["--warmup-epochs", "nan"], "error: warmup_epochs: must be a finite number, got 'nan'; see "
                                 "`python -m sslcore launch --help`"),
    (["--epochs", "99999999999999999999999"], "error: epochs: must be a positive whole number of at most 100,000, "
                                              "got 99999999999999999999999 (a cap of limits.py)"),
    (["--image-size", "4096"], "error: image_size: must be a positive whole number of at most 1,024, got 4096 "
                               "(a cap of limits.py)"),
])
def test_bad_numbers_are_one_line_and_leave_no_run(tmp_path, args, line):
    out = sslcore("launch", *args, runs_dir=tmp_path)
    assert out.returncode == 2 and out.stderr.strip() == line
    assert not [p for p in tmp_path.iterdir() if p.is_dir() and not p.name.startswith(".")]


def test_launch_checks_the_data_before_it_returns(tmp_path):
    out = sslcore("launch", "--dataset", "folder", "--data-root", str(tmp_path / "missing"), runs_dir=tmp_path)
    assert out.returncode == 2
    assert out.stderr.strip().startswith("error: data_root: folder") and "does not exist" in out.stderr
    out = sslcore("launch", "--train-size", "64", "--image-size", "16", "--batch-size", "128", runs_dir=tmp_path)
    assert out.returncode == 2
    assert out.stderr.strip() == ("error: batch_size: 128 is larger than the training set (64 images); "
                                  "lower --batch-size")
    assert json.loads(sslcore("--json", "runs", runs_dir=tmp_path).stdout.strip().splitlines()[-1])["runs"] == []


def test_bad_config_files_are_one_line(tmp_path):
    for name, body in [("flag.json", b'{"optim": {"epochs": true}}'), ("latin1.json", b'{"name": "caf\xe9"}'),
                       ("weights.json", b'{"method": {"vicreg_weights": "abc"}}')]:
        (tmp_path / name).write_bytes(body)
        out = sslcore("train", "--config", str(tmp_path / name), runs_dir=tmp_path / "runs")
        assert out.returncode == 2 and out.stderr.startswith("error: ") and "\n" not in out.stderr.strip(), name
    out = sslcore("train", "--config", str(tmp_path), runs_dir=tmp_path / "runs")
    assert out.returncode == 2 and out.stderr.strip().endswith("is a folder; pass a JSON file")
