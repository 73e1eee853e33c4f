"""sslcore.evaluate.embed_3d: 3-D PCA and the instructive default query of the Embeddings page."""
import numpy as np
import torch

from sslcore.evaluate.embed_3d import instructive_query, pca_3d


def test_pca_3d_keeps_the_three_directions_of_largest_variance():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(200, 6, generator=g) * torch.tensor([5.0, 3.0, 2.0, 0.1, 0.1, 0.1])
    coords = pca_3d(x)
    assert coords.shape == (200, 3)
    stds = coords.std(0)
    assert stds[0] > stds[1] > stds[2] > 1.0
    assert np.array_equal(coords, pca_3d(x))  # deterministic, signs fixed


def test_pca_3d_of_two_dimensional_features_pads_with_zeros():
    assert np.all(pca_3d(np.random.default_rng(0).normal(size=(10, 2)))[:, 2] == 0)


def test_the_instructive_query_has_neighbours_of_its_class_that_differ_in_the_nuisance():
    rng = np.random.default_rng(1)
    # Two tight clusters that are pure in class: in cluster A every image has the same background (its neighbours
    # agree on the background too), in cluster B the backgrounds vary. Class 2 is scattered noise.
    a, b, noise = np.eye(8)[0] * 10, np.eye(8)[1] * 10, rng.normal(size=(20, 8))
    feats = np.concatenate([a + rng.normal(scale=0.01, size=(10, 8)), b + rng.normal(scale=0.01, size=(10, 8)),
                            noise])
    labels = np.array([0] * 10 + [1] * 10 + [2] * 20)
    background = np.concatenate([np.zeros(10, int), np.arange(10) % 5, rng.integers(0, 5, 20)])
    row = instructive_query(torch.as_tensor(feats, dtype=torch.float32), labels, {"background": background}, k=5)
    assert labels[row] == 1
