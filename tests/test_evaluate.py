"""Evaluation: every metric against a direct computation on small data, the stored results, baselines' cache,
the embedding file, periodic evaluation during training, and bad input."""
import json
import subprocess
import sys

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from sslcore import evaluate as ev
from sslcore.config import ConfigError, RunConfig
from sslcore.runs import RunNotFound, RunStore
from sslcore.worker import execute_run


def tiny(**kw) -> RunConfig:
    base = dict(train_size=64, test_size=48, image_size=16, batch_size=16, projector_dim=32, epochs=1, log_every=1,
                snapshot_every=4, device="cpu", lr=1e-3, eval_at_end=False)
    return RunConfig().replace(**(base | kw))


def trained_run(store, **kw) -> str:
    run_id = store.create_run(tiny(**kw), status="running")
    store.claim_foreground(run_id, "cpu")
    run = execute_run(store, run_id)
    assert run.status == "finished", run.error
    return run_id


@pytest.fixture
def store(tmp_path):
    return RunStore(tmp_path / "runs")


@pytest.fixture(scope="module")
def shared(tmp_path_factory):
    """One trained tiny run, evaluated once with PCA (used by several read-only tests)."""
    store = RunStore(tmp_path_factory.mktemp("shared") / "runs")
    run_id = trained_run(store)
    before = ev.baseline_computations
    result = ev.evaluate_run(store, run_id, embed="pca")
    return store, run_id, result, ev.baseline_computations - before


# ---------------------------------------------------------------------------------------------------------------------
# Weighted kNN
# ---------------------------------------------------------------------------------------------------------------------
def brute_force_weighted_knn(train_x, train_y, test_x, k, temperature, num_classes):
    """The solo-learn vote written as a plain loop over test images."""
    a = train_x / np.linalg.norm(train_x, axis=1, keepdims=True)
    preds = []
    for q in test_x:
        sims = a @ (q / np.linalg.norm(q))
        nearest = np.argsort(-sims, kind="stable")[:k]
        votes = np.zeros(num_classes)
        for j in nearest:
            votes[train_y[j]] += np.exp(sims[j] / temperature)
        preds.append(int(np.argmax(votes)))
    return np.array(preds)


@pytest.mark.parametrize("k, temperature", [(1, 0.07), (5, 0.07), (20, 0.07), (7, 0.5)])
def test_knn_matches_brute_force_vote(k, temperature):
    rng = np.random.default_rng(k)
    centres = rng.normal(size=(4, 16))
    train_y = rng.integers(0, 4, 300)
    test_y = rng.integers(0, 4, 120)
    train_x = (centres[train_y] + rng.normal(scale=1.2, size=(300, 16))).astype(np.float32)
    test_x = (centres[test_y] + rng.normal(scale=1.2, size=(120, 16))).astype(np.float32)
    expected = brute_force_weighted_knn(train_x, train_y, test_x, k, temperature, 4)
    for chunk in (None, 7):  # chunking the queries changes nothing
        pred = ev.knn_predict(torch.from_numpy(train_x), torch.from_numpy(train_y), torch.from_numpy(test_x), k=k,
                              temperature=temperature, chunk=chunk)
        assert (pred.numpy() == expected).mean() >= 0.99  # float32 vs float64 near-ties may flip one vote
    acc = ev.knn_accuracy(train_x, train_y, test_x, test_y, k=k, temperature=temperature)
    assert acc == pytest.approx((expected == test_y).mean(), abs=0.01)


def test_knn_k1_equals_sklearn_cosine_nearest_neighbour():
    from sklearn.neighbors import KNeighborsClassifier

    rng = np.random.default_rng(0)
    train_x, test_x = rng.normal(size=(200, 8)), rng.normal(size=(50, 8))
    train_y, test_y = rng.integers(0, 3, 200), rng.integers(0, 3, 50)
    sk = KNeighborsClassifier(n_neighbors=1, metric="cosine", algorithm="brute").fit(train_x, train_y)
    ours = ev.knn_predict(torch.tensor(train_x), torch.tensor(train_y), torch.tensor(test_x), k=1)
    assert (ours.numpy() == sk.predict(test_x)).all()
    assert ev.knn_accuracy(train_x, train_y, test_x, test_y, k=1) == pytest.approx(sk.score(test_x, test_y))


def test_knn_neighbors_are_the_most_cosine_similar():
    rng = np.random.default_rng(1)
    train_x, q = torch.tensor(rng.normal(size=(100, 6))), torch.tensor(rng.normal(size=(9, 6)))
    sims, idx = ev.knn_neighbors(q, train_x, 5, chunk=4)
    full = F.normalize(q.float(), dim=1) @ F.normalize(train_x.float(), dim=1).T
    expect_sims, expect_idx = full.topk(5, dim=1)
    assert torch.equal(idx, expect_idx) and torch.allclose(sims, expect_sims, atol=1e-6)
    assert (sims[:, :-1] >= sims[:, 1:]).all()


def test_knn_several_targets_share_one_search():
    rng = np.random.default_rng(2)
    x, xt = torch.tensor(rng.normal(size=(80, 5))), torch.tensor(rng.normal(size=(30, 5)))
    ys = {"a": torch.tensor(rng.integers(0, 3, 80)), "b": torch.tensor(rng.integers(0, 5, 80))}
    both = ev.knn_predict(x, ys, xt, k=9)
    for name, y in ys.items():
        assert torch.equal(both[name], ev.knn_predict(x, y, xt, k=9))


# ---------------------------------------------------------------------------------------------------------------------
# Linear probe
# ---------------------------------------------------------------------------------------------------------------------
def test_linear_probe_separable_is_perfect_and_random_labels_are_chance():
    rng = np.random.default_rng(0)
    centres = 6 * rng.normal(size=(5, 20))            # well-separated clusters: linearly separable
    y, yt = rng.integers(0, 5, 600), rng.integers(0, 5, 400)
    x = (centres[y] + rng.normal(size=(600, 20))).astype(np.float32)
    xt = (centres[yt] + rng.normal(size=(400, 20))).astype(np.float32)
    assert ev.linear_probe(x, y, xt, yt) >= 0.99
    random_y, random_yt = rng.integers(0, 5, 600), rng.integers(0, 5, 400)
    assert abs(ev.linear_probe(x, random_y, xt, random_yt) - 0.2) < 0.08


def test_linear_probe_matches_sklearn_logistic_regression():
    """The protocol is L2-regularised multinomial logistic regression on standardised features: sklearn solves
    the same problem (C = 1 / (weight_decay · N))."""
    from sklearn.linear_model import LogisticRegression

    rng = np.random.default_rng(3)
    centres = rng.normal(size=(4, 12))
    y, yt = rng.integers(0, 4, 400), rng.integers(0, 4, 300)
    x = (centres[y] + rng.normal(scale=1.5, size=(400, 12))).astype(np.float32)
    xt = (centres[yt] + rng.normal(scale=1.5, size=(300, 12))).astype(np.float32)
    mean, std = x.mean(0), x.std(0) + 1e-6
    wd = ev.LINEAR_WEIGHT_DECAY
    sk = LogisticRegression(C=1 / (wd * len(x)), max_iter=5000, tol=1e-10).fit((x - mean) / std, y)
    acc, pred = ev.linear_probe(x, y, xt, yt, max_iter=500, return_predictions=True)
    agree = (pred.numpy() == sk.predict((xt - mean) / std)).mean()
    assert agree >= 0.98
    assert acc == pytest.approx(sk.score((xt - mean) / std, yt), abs=0.02)


def test_linear_probe_joint_heads_equal_separate_fits():
    rng = np.random.default_rng(4)
    x, xt = rng.normal(size=(300, 10)).astype(np.float32), rng.normal(size=(200, 10)).astype(np.float32)
    wa, wb = rng.normal(size=(10, 3)), rng.normal(size=(10, 6))
    ys = {"a": (x @ wa).argmax(1), "b": (x @ wb).argmax(1)}
    yts = {"a": (xt @ wa).argmax(1), "b": (xt @ wb).argmax(1)}
    joint = ev.linear_probe(x, ys, xt, yts, max_iter=500)
    for name in ys:
        assert joint[name] == pytest.approx(ev.linear_probe(x, ys[name], xt, yts[name], max_iter=500), abs=0.01)


# ---------------------------------------------------------------------------------------------------------------------
# Features and 2-D projections
# ---------------------------------------------------------------------------------------------------------------------
def test_extract_features_uses_training_normalisation_eval_mode_and_restores_mode():
    from sslcore.methods import build_method
    from sslcore.backbones import build_backbone

    model = build_method(RunConfig().method, build_backbone("convnet"))
    model.train()
    images = torch.randint(0, 256, (10, 3, 16, 16), dtype=torch.uint8)
    feats = ev.extract_features(model, images, batch_size=3)
    assert feats.shape == (10, 128) and feats.dtype == torch.float32 and model.training
    model.eval()
    with torch.no_grad():
        expected = model.backbone((images.float() / 255 - 0.5) / 0.25)
    assert torch.allclose(feats, expected, atol=1e-5)
    proj = ev.extract_features(model, images, which="projector")
    assert proj.shape == (10, RunConfig().method.projector_dim)
    resized = ev.extract_features(model, images, image_size=8)
    assert resized.shape == (10, 128) and not torch.allclose(resized, feats)
    with pytest.raises(ConfigError, match="features"):
        ev.extract_features(model, images, which="head")


def test_projector_features_of_a_method_without_projector_is_a_config_error():
    from sslcore.backbones import build_backbone
    from sslcore.methods import build_method

    cfg = RunConfig().replace(method="relational").method
    with pytest.raises(ConfigError, match="no projector"):
        ev.extract_features(build_method(cfg, build_backbone("convnet")), torch.zeros(2, 3, 8, 8, dtype=torch.uint8),
                            which="projector")


def test_pca_2d_matches_sklearn_up_to_sign():
    from sklearn.decomposition import PCA

    x = np.random.default_rng(0).normal(size=(200, 10)) * np.arange(1, 11)
    ours = ev.pca_2d(x)
    ref = PCA(2).fit_transform(x)
    for j in range(2):
        assert abs(np.corrcoef(ours[:, j], ref[:, j])[0, 1]) > 0.9999
    assert np.array_equal(ev.pca_2d(x), ours)  # deterministic


# ---------------------------------------------------------------------------------------------------------------------
# Runs: stored results, baselines, embedding
# ---------------------------------------------------------------------------------------------------------------------
def test_evaluate_run_reports_every_target_with_its_protocol(shared):
    store, run_id, r, _ = shared
    targets = ["class", "colour", "background", "background_colour", "size", "position", "rotation"]
    assert r["run_id"] == run_id and r["step"] == 4 and r["epoch"] == 1
    for t in targets:
        for kind in ("knn", "linear"):
            key = f"{kind}/{t}"
            assert 0 <= r["metrics"][key] <= 1
            for name in ("raw_pixels", "random_backbone"):
                assert 0 <= r["baselines"][name][key] <= 1
    p = r["protocol"]
    assert p["targets"] == targets
    assert (p["features"], p["feature_dim"], p["n_train"], p["n_test"], p["step"]) == ("backbone", 128, 64, 48, 4)
    assert p["knn"]["k"] == 20 and p["knn"]["temperature"] == 0.07
    assert p["linear"]["weight_decay"] == ev.LINEAR_WEIGHT_DECAY and p["linear"]["max_iter"] == ev.LINEAR_MAX_ITER
    assert set(p["chance"]) == set(targets)
    json.dumps(r)  # what `eval --json` prints


def test_evaluate_run_stores_eval_rows_metrics_and_embedding(shared):
    store, run_id, r, _ = shared
    rows = {row["key"]: row for row in store.evals(run_id)}
    assert set(rows) == {"backbone", "baseline/raw_pixels", "baseline/random_backbone"}
    assert rows["backbone"]["results"] == r["metrics"] and rows["backbone"]["protocol"]["n_train"] == 64
    assert rows["baseline/raw_pixels"]["protocol"]["features"] == "raw_pixels"
    metrics = store.metrics(run_id)
    assert metrics["eval/knn/class"]["value"] == [pytest.approx(r["metrics"]["knn/class"])]
    assert metrics["eval/linear/colour"]["step"] == [4]
    again = ev.latest_results(store, run_id)
    assert again["metrics"] == r["metrics"] and again["baselines"] == r["baselines"]
    assert [h["step"] for h in ev.eval_history(store, run_id)] == [4]

    emb = ev.load_embedding(store, run_id)
    assert emb["step"] == 4 and emb["path"] == r["embedding"]
    assert emb["features"].shape == (48, 128) and emb["features"].dtype == np.float16
    assert emb["pca"].shape == (48, 2) and np.isfinite(emb["pca"]).all()
    assert not emb["has_umap"] and np.isnan(emb["umap"]).all()
    assert set(emb["factors"]) == set(r["protocol"]["targets"][1:])
    # indices point into the run's test set: the page reloads the thumbnails from them
    from sslcore.data import load_dataset

    m = emb["meta"]
    test = load_dataset(m["dataset"], "test", root=m["root"], image_size=m["image_size"], size=m["test_size"],
                        seed=m["seed"])
    assert np.array_equal(test.labels[emb["indices"]].numpy(), emb["labels"])
    assert np.array_equal(test.factors["colour"][emb["indices"]].numpy(), emb["factors"]["colour"])
    assert emb["class_names"] == test.class_names


def test_baselines_are_cached_per_dataset(shared, store):
    shared_store, run_id, r, computed = shared
    assert computed == 1
    cache = list((shared_store.root / ".cache" / "baselines").glob("shapes-*.json"))
    assert len(cache) == 1
    before = ev.baseline_computations
    again = ev.evaluate_run(shared_store, run_id, embed=False)
    assert ev.baseline_computations == before  # read from the cache
    assert again["baselines"] == r["baselines"]
    # a different evaluation set, image size, seed or backbone is a different cache entry
    cfg = shared_store.config(run_id)
    key = ev.baseline_cache_path(shared_store.root, cfg, 64, 48, 20, 0.07)
    assert key == cache[0]
    for other in (ev.baseline_cache_path(shared_store.root, cfg, 64, 32, 20, 0.07),
                  ev.baseline_cache_path(shared_store.root, cfg.replace(image_size=24), 64, 48, 20, 0.07),
                  ev.baseline_cache_path(shared_store.root, cfg.replace(seed=1), 64, 48, 20, 0.07),
                  ev.baseline_cache_path(shared_store.root, cfg, 64, 48, 10, 0.07)):
        assert other != key


def test_projector_features_are_stored_under_their_own_key(shared):
    store, run_id, _, _ = shared
    r = ev.evaluate_run(store, run_id, features="projector", embed=False, baselines=False)
    assert r["protocol"]["features"] == "projector" and r["protocol"]["feature_dim"] == 32
    assert "eval/projector/knn/class" in store.metrics(run_id)
    assert ev.latest_results(store, run_id, features="projector")["metrics"] == r["metrics"]


def test_evaluation_during_training_every_n_epochs_and_at_end(shared):
    store = shared[0]  # same data sizes as the shared run: the baselines come from its cache
    before = ev.baseline_computations
    run_id = trained_run(store, epochs=2, eval_every=1, eval_at_end=True)
    assert ev.baseline_computations == before
    steps = [h["step"] for h in ev.eval_history(store, run_id)]
    assert steps == [4, 8]
    assert store.metrics(run_id)["eval/knn/class"]["step"] == [4, 8]
    assert ev.embedding_steps(store, run_id) == [4, 8]
    assert set(ev.latest_results(store, run_id)["baselines"]) == {"raw_pixels", "random_backbone"}
    # evaluating during training leaves the training RNG alone: the loss curve is the one without evaluation
    plain = trained_run(store, epochs=2, eval_every=0, eval_at_end=False)
    assert store.metrics(run_id)["loss"]["value"] == store.metrics(plain)["loss"]["value"]
    assert ev.eval_history(store, plain) == []


# ---------------------------------------------------------------------------------------------------------------------
# Bad input
# ---------------------------------------------------------------------------------------------------------------------
def test_bad_input_one_line_messages(store, shared):
    shared_store, run_id, _, _ = shared
    with pytest.raises(RunNotFound, match="not found"):
        ev.evaluate_run(store, "20260101-000000-simclr-abcdef")
    with pytest.raises(RunNotFound, match="not valid"):
        ev.evaluate_run(store, "../etc")
    queued = store.create_run(tiny())
    with pytest.raises(RunNotFound, match="no checkpoint yet"):
        ev.evaluate_run(store, queued)
    store.finish(queued, "failed", "RuntimeError: out of memory")
    with pytest.raises(ConfigError, match="failed before writing a checkpoint: RuntimeError"):
        ev.evaluate_run(store, queued)
    with pytest.raises(ConfigError, match="k: 100 is larger than the evaluation training set"):
        ev.evaluate_run(shared_store, run_id, k=100, embed=False)
    with pytest.raises(RunNotFound, match="no checkpoint at step 3"):
        ev.evaluate_run(shared_store, run_id, step=3)
    with pytest.raises(ConfigError, match="k: 30 is larger"):
        ev.knn_accuracy(torch.randn(10, 3), torch.zeros(10, dtype=torch.long), torch.randn(4, 3),
                        torch.zeros(4, dtype=torch.long), k=30)
    with pytest.raises(ConfigError, match="unlabeled"):
        ev.knn_accuracy(torch.randn(10, 3), -torch.ones(10, dtype=torch.long), torch.randn(4, 3),
                        torch.zeros(4, dtype=torch.long), k=3)
    with pytest.raises(ConfigError, match="unlabeled"):
        ev.linear_probe(torch.randn(10, 3), -torch.ones(10, dtype=torch.long), torch.randn(4, 3),
                        torch.zeros(4, dtype=torch.long))
    with pytest.raises(RunNotFound, match="no saved embedding"):
        ev.load_embedding(store, queued)


def test_failed_run_with_checkpoints_needs_an_explicit_step(store):
    run_id = trained_run(store)
    store.finish(run_id, "failed", "trainer process ended unexpectedly")
    with pytest.raises(ConfigError, match="failed .*--step .*available: 4"):
        ev.evaluate_run(store, run_id)
    assert ev.evaluate_run(store, run_id, step=4, embed=False, baselines=False)["step"] == 4


def test_unlabeled_dataset_is_a_config_error(store, monkeypatch):
    from sslcore import data

    run_id = trained_run(store)
    real = data.load_dataset

    def unlabeled(name, split="train", **kw):
        s = real(name, split, **kw)
        s.labels[:] = -1
        return s

    monkeypatch.setattr(data, "load_dataset", unlabeled)
    with pytest.raises(ConfigError, match="no labels"):
        ev.evaluate_run(store, run_id)


def test_cli_eval_json_and_one_line_errors(shared):
    store, run_id, _, _ = shared

    def cli(*args):
        return subprocess.run([sys.executable, "-m", "sslcore", "--runs-dir", str(store.root), *args],
                              capture_output=True, text=True, timeout=300)

    out = cli("eval", run_id, "--json", "--embed", "pca")   # baselines come from the shared run's cache
    assert out.returncode == 0, out.stderr[-2000:]
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert result["protocol"]["knn"]["k"] == 20 and "knn/class" in result["metrics"]
    assert set(result["baselines"]) == {"raw_pixels", "random_backbone"}
    human = cli("eval", run_id, "--embed", "none", "--no-baselines", "--k", "5", "--step", "4")
    assert human.returncode == 0, human.stderr[-2000:]
    assert "k=5" in human.stdout and "colour" in human.stdout and "class" in human.stdout
    bad = cli("eval", run_id, "--k", "1000")
    assert bad.returncode == 2
    assert bad.stderr.strip().startswith("error: k: 1000") and "\n" not in bad.stderr.strip(), bad.stderr


# ---------------------------------------------------------------------------------------------------------------------
# UMAP (real numba JIT: ≈ 50 s the first time in a process)
# ---------------------------------------------------------------------------------------------------------------------
@pytest.mark.slow
def test_umap_embedding_warm_up_and_ensure_umap(shared):
    store, run_id, _, _ = shared
    messages = []
    t = ev.warm_up_umap(block=True)
    assert ev.umap_is_warm() and (t is None or not t.is_alive())
    emb = ev.ensure_umap(store, run_id, progress=lambda f, m: messages.append(m))
    assert emb["has_umap"] and emb["umap"].shape == (48, 2) and np.isfinite(emb["umap"]).all()
    assert not any("compiling" in m for m in messages)  # warm: no JIT message
    coords = ev.umap_2d(np.random.default_rng(0).normal(size=(300, 16)))
    assert coords.shape == (300, 2) and np.isfinite(coords).all()
