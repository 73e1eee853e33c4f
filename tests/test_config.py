import json

import pytest

from sslcore.config import ConfigError, RunConfig


def test_defaults_validate_and_round_trip(tmp_path):
    cfg = RunConfig().validate()
    path = tmp_path / "c.json"
    path.write_text(cfg.to_json())
    assert RunConfig.load(path) == cfg


def test_replace_uses_flat_names():
    cfg = RunConfig().replace(method="simclr", lr=0.5, image_size=48, seed=3)
    assert (cfg.method.name, cfg.optim.lr, cfg.data.image_size, cfg.seed) == ("simclr", 0.5, 48, 3)


@pytest.mark.parametrize("flat, field", [
    ({"dataset": "imagenet"}, "dataset"), ({"method": "dino"}, "method"), ({"backbone": "vit"}, "backbone"),
    ({"augment": "heavy"}, "augment"), ({"epochs": 0}, "epochs"), ({"batch_size": -4}, "batch_size"),
    ({"image_size": 0}, "image_size"), ({"lr": 0}, "lr"), ({"optimizer": "rmsprop"}, "optimizer"),
    ({"strength": 5}, "strength"), ({"device": "tpu"}, "device"), ({"overrides": {"view3.blur_p": 1}}, "overrides"),
    ({"overrides": {"blur_p": 2}}, "overrides"), ({"temperature": 0}, "temperature"),
])
def test_bad_values_name_the_field(flat, field):
    with pytest.raises(ConfigError) as e:
        RunConfig().replace(**flat).validate()
    message = str(e.value)
    assert message.startswith(field) and "\n" not in message


def test_batch_stats_methods_need_two_images():
    with pytest.raises(ConfigError, match="batch_size.*≥ 2"):
        RunConfig().replace(batch_size=1).validate()


def test_image_too_small_for_backbone_names_the_fix():
    with pytest.raises(ConfigError, match="image_size: backbone resnet18 needs.*32"):
        RunConfig().replace(backbone="resnet18", image_size=16).validate()
    RunConfig().replace(backbone="convnet", image_size=16).validate()


def test_unknown_fields_and_types_in_files(tmp_path):
    path = tmp_path / "c.json"
    path.write_text(json.dumps({"optim": {"lr": "fast"}}))
    with pytest.raises(ConfigError, match="optim.lr: expected a number"):
        RunConfig.load(path)
    path.write_text(json.dumps({"optim": {"learning_rate": 1}}))
    with pytest.raises(ConfigError, match="optim.learning_rate: unknown field"):
        RunConfig.load(path)
    path.write_text("{not json")
    with pytest.raises(ConfigError, match="not valid JSON"):
        RunConfig.load(path)
    with pytest.raises(ConfigError, match="does not exist"):
        RunConfig.load(tmp_path / "missing.json")


def test_unknown_flat_option():
    with pytest.raises(ConfigError, match="learning_rate: unknown option"):
        RunConfig().replace(learning_rate=1)


# ---- issue 16: every numeric field finite, in range, of its declared type ----------------------------------------
@pytest.mark.parametrize("flat, message", [
    ({"lr": float("nan")}, "lr: must be a finite number"), ({"lr": float("inf")}, "lr: must be a finite number"),
    ({"warmup_epochs": float("nan")}, "warmup_epochs: must be a finite number"),
    ({"weight_decay": float("nan")}, "weight_decay: must be a finite number"),
    ({"temperature": float("nan")}, "temperature: must be a finite number"),
    ({"lambd": float("nan")}, "lambd: must be a finite number"),
    ({"epochs": 99999999999999999999999}, "epochs: must be a positive whole number of at most 100,000"),
    ({"epochs": 1_000_000_000_000}, "epochs: must be a positive whole number of at most 100,000"),
    ({"image_size": 4096}, "image_size: must be a positive whole number of at most 1,024"),
    ({"epochs": True}, "epochs: expected a number, got True"), ({"name": {"a": 1}}, "name: expected text"),
    ({"lr": 1e6}, "lr: must be in (0, 100]"), ({"seed": -1}, "seed: must be a whole number ≥ 0"),
    ({"warmup_epochs": 10, "epochs": 2}, "warmup_epochs: must be at most epochs (2)"),
    ({"ema": 1.0}, "ema: must be in [0, 1)"), ({"keep_last": 0}, "keep_last: must be a positive whole number"),
])
def test_non_finite_out_of_range_and_mistyped_values_are_refused(flat, message):
    with pytest.raises(ConfigError) as e:
        RunConfig().replace(**flat).validate()
    assert message in str(e.value) and "\n" not in str(e.value)


@pytest.mark.parametrize("body, message", [
    ('{"optim": {"epochs": true}}', "optim.epochs: expected a number, got True"),
    ('{"name": {"x": 1}}', "name: expected text, got {'x': 1}"),
    ('{"method": {"vicreg_weights": "abc"}}', "method.vicreg_weights: expected a list of 3 numbers"),
    ('{"method": {"vicreg_weights": [1, 2, "x"]}}', "method.vicreg_weights: expected a number, got 'x'"),
    ('{"augment": {"overrides": [1, 2]}}', "augment.overrides: expected an object of view.field: number"),
    ('{"data": {"image_size": 1e400}}', "data.image_size: must be a finite number, got inf"),
    ('{"optim": {"lr": NaN}}', "optim.lr: must be a finite number, got nan"),
    ('{"log": {"eval_at_end": 1}}', "log.eval_at_end: expected true or false, got 1"),
    ('[1, 2]', "config: expected an object, got list"),
    ('[' * 100_000, "nested too deeply"),
])
def test_config_files_with_wrong_types_are_one_line(tmp_path, body, message):
    path = tmp_path / "c.json"
    path.write_text(body)
    with pytest.raises(ConfigError) as e:
        RunConfig.load(path).validate()
    assert message in str(e.value) and "\n" not in str(e.value)


def test_unreadable_config_files_are_one_line(tmp_path):
    path = tmp_path / "latin1.json"
    path.write_bytes('{"name": "caf\xe9"}'.encode("latin-1"))
    with pytest.raises(ConfigError, match=r"is not UTF-8 text \(byte 13\)"):
        RunConfig.load(path)
    with pytest.raises(ConfigError, match="is a folder; pass a JSON file"):
        RunConfig.load(tmp_path)


def test_classroom_caps_are_the_same_validation_with_tighter_limits():
    from sslcore import limits

    cfg = RunConfig().replace(epochs=50)
    cfg.validate()
    with pytest.raises(ConfigError, match="epochs: must be a positive whole number of at most 20"):
        cfg.validate(limits.CLASSROOM)
