"""sslcore.evaluate.finetune: backbone + linear head trained with labels; the CLI protocol and what it stores."""
import json

import torch
from test_evaluate import trained_run
from torch import nn

from sslcore import cli
from sslcore.backbones import ConvNet
from sslcore.data import ImageSet
from sslcore.evaluate import extract_features, linear_probe
from sslcore.evaluate.finetune import finetune_accuracy
from sslcore.runs import RunStore


def _colour_squares(n: int, seed: int) -> ImageSet:
    """Class 0: a red square, class 1: a blue one, anywhere on a grey 16 px image."""
    g = torch.Generator().manual_seed(seed)
    labels = torch.randint(0, 2, (n,), generator=g)
    images = torch.full((n, 3, 16, 16), 100, dtype=torch.uint8)
    for i in range(n):
        r, c = torch.randint(0, 10, (2,), generator=g).tolist()
        images[i, 0 if labels[i] == 0 else 2, r:r + 6, c:c + 6] = 250
    return ImageSet(images, labels, ["red", "blue"], name="squares")


def _dead_backbone() -> nn.Module:
    """A convnet whose features are constant (last BN scale 0, shift 0.01): a pre-training that learnt nothing.
    Its frozen features cannot beat chance; only training the backbone can."""
    torch.manual_seed(0)
    net = ConvNet(widths=(8, 16))
    bn = net.features[-2]
    with torch.no_grad():
        bn.weight.zero_()
        bn.bias.fill_(0.01)
    return net


def test_finetuning_trains_the_backbone_and_beats_the_frozen_linear_probe():
    train, test = _colour_squares(128, 0), _colour_squares(64, 1)
    backbone = _dead_backbone()
    holder = nn.Module()
    holder.backbone = backbone
    frozen = linear_probe(extract_features(holder, train.images), train.labels,
                          extract_features(holder, test.images), test.labels)
    tuned = finetune_accuracy(backbone, train, test, epochs=8, lr=1e-2, batch_size=32, image_size=16)
    majority = max(float(test.labels.float().mean()), 1 - float(test.labels.float().mean()))
    assert frozen <= majority + 1e-6
    assert tuned >= 0.9 > frozen


def test_finetuning_ignores_unlabeled_images_and_moves_no_global_rng():
    train, test = _colour_squares(32, 2), _colour_squares(16, 3)
    train.labels[:16] = -1
    net = ConvNet(widths=(8,))
    torch.manual_seed(5)
    expected = torch.rand(1)
    torch.manual_seed(5)
    accuracy = finetune_accuracy(net, train, test, epochs=1, batch_size=16, image_size=16)
    assert 0 <= accuracy <= 1 and torch.equal(torch.rand(1), expected)


def test_eval_finetune_reports_and_stores_the_protocol(tmp_path, capsys):
    store = RunStore(tmp_path / "runs")
    run_id = trained_run(store)
    code = cli.main(["--runs-dir", str(store.root), "--json", "eval", run_id, "--finetune", "--epochs", "1",
                     "--train-size", "32", "--test-size", "32"])
    out = capsys.readouterr().out.strip().splitlines()[-1]
    assert code == 0, out
    result = json.loads(out)
    assert set(result["metrics"]) == {"finetune/class", "supervised_scratch/class", "linear/class", "knn/class"}
    assert result["protocol"]["finetune"]["epochs"] == 1 and result["protocol"]["n_test"] == 32
    stored = [e for e in store.evals(run_id) if e["key"] == "finetune"]
    assert len(stored) == 1 and stored[0]["results"] == result["metrics"]
    assert "eval/finetune/class" in store.metrics(run_id)


def test_epochs_without_finetune_is_a_one_line_error(tmp_path, capsys):
    assert cli.main(["--runs-dir", str(tmp_path), "eval", "20260101-000000-x-abcdef", "--epochs", "3"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: epochs:") and "\n" not in err
