"""What launch checks before a run exists: the data is there, holds enough images for the batch, and fits in
memory once decoded — counted without decoding a single image."""
import pytest
from PIL import Image

from sslcore.config import ConfigError, RunConfig
from sslcore.preflight import check_data, check_memory, training_images


def image_folder(root, per_class: dict[str, int]):
    for name, n in per_class.items():
        (root / name).mkdir(parents=True)
        for i in range(n):
            Image.new("RGB", (8, 8), (i, 0, 0)).save(root / name / f"{i}.png")
    return root


def test_folder_images_are_counted_as_the_loader_splits_them(tmp_path):
    flat = image_folder(tmp_path / "flat", {"a": 10, "b": 10})
    cfg = RunConfig().replace(dataset="folder", data_root=str(flat), image_size=16)
    assert training_images(cfg) == 16          # the stratified 80 % of each class
    split = image_folder(tmp_path / "split" / "train", {"a": 6, "b": 6}).parent
    image_folder(split / "val", {"a": 2, "b": 2})
    assert training_images(cfg.replace(data_root=str(split))) == 12
    assert training_images(cfg.replace(data_root=str(split), train_size=5)) == 5


def test_a_batch_larger_than_the_data_is_refused_unless_it_may_be_fitted(tmp_path):
    folder = image_folder(tmp_path / "imgs", {"a": 10, "b": 10})
    cfg = RunConfig().replace(dataset="folder", data_root=str(folder), image_size=16, batch_size=64)
    assert check_data(cfg) == 16                                    # the default batch is lowered, with a notice
    with pytest.raises(ConfigError, match=r"batch_size: 64 is larger than the training set \(16 images\)"):
        check_data(cfg.replace(fit_batch=False))                    # one the user asked for is not


def test_files_datasets_must_be_there_unless_downloaded(tmp_path):
    with pytest.raises(ConfigError, match="data_root: cifar10 not found in .*cifar-10-batches-py"):
        check_data(RunConfig().replace(dataset="cifar10", data_root=str(tmp_path)))
    (tmp_path / "stl10_binary").mkdir()
    stl = RunConfig().replace(dataset="stl10", data_root=str(tmp_path), image_size=96)
    assert training_images(stl) == 5_000
    assert training_images(stl.replace(train_split="train+unlabeled")) == 105_000


def test_decoded_set_larger_than_free_memory_is_refused_with_the_figure():
    cfg = RunConfig().replace(image_size=1024)
    with pytest.raises(ConfigError) as e:
        check_memory(cfg, 4000, available=8 * 2**30)
    assert str(e.value) == ("image_size: 4,000 images of 1024 px decode to 11.7 GiB, more than 50% of the 8.0 GiB "
                            "of memory free now; use a smaller --image-size or fewer images (--train-size)")
    check_memory(cfg.replace(image_size=32), 4000, available=8 * 2**30)
