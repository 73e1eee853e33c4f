"""Datasets: every dataset loads into one in-memory ``ImageSet`` (uint8 N×3×H×W, labels, factor labels).

Datasets
--------
``shapes``  (default, embedded) procedurally generated coloured shapes on textured backgrounds. The class is the
            shape; colour, background texture and colour, size, position and rotation are random nuisance factors,
            recorded as categorical factor labels. Hard for raw pixels (a cosine kNN on pixels is near chance), easy
            for a convnet that has learnt to ignore colour and position.
``digits``  (embedded) scikit-learn's 8×8 digits, upscaled, coloured and pasted at a random place on a larger canvas.
``cifar10`` torchvision's CIFAR-10 from ``root`` (``<root>/cifar-10-batches-py``).
``stl10``   torchvision's STL-10 from ``root`` (``<root>/stl10_binary``); the ``unlabeled`` split has labels −1,
            ``train+unlabeled`` is the 5k labelled images followed by the 100k unlabeled ones (for pre-training).
``folder``  any ImageFolder tree: ``<root>/<class>/<image>`` (seeded 80/20 split) or ``<root>/train/<class>/…`` with
            ``<root>/val/…`` or ``<root>/test/…``. Images are resized so the shorter side is ``image_size`` and then
            centre-cropped to a square (the aspect ratio is kept; the borders of non-square images are cut off).

Generated datasets are rendered vectorised over the whole batch and cached in memory (``functools.lru_cache``) keyed
by their arguments; ``load_dataset`` hands out fresh copies, so callers may modify what they get.
Nothing here ever downloads anything unless ``download=True`` is passed for cifar10 / stl10.

Modules: ``registry`` (the table and ``load_dataset``), ``imageset`` (the containers), ``shapes``, ``digits``,
``torchvision_sets`` (cifar10, stl10), ``folders`` (ImageFolder trees), ``seeding`` and ``rendering`` (shared helpers).
"""
from .digits import DIGIT_CLASSES
from .folders import IMAGE_EXTENSIONS
from .imageset import DatasetInfo, ImageSet
from .registry import DATASETS, describe_datasets, load_dataset
from .rendering import COLOUR_NAMES, PALETTE
from .shapes import SHAPE_CLASSES
from .torchvision_sets import CIFAR10_CLASSES, STL10_CLASSES, default_data_root

__all__ = ["ImageSet", "DatasetInfo", "DATASETS", "load_dataset", "describe_datasets", "default_data_root",
           "IMAGE_EXTENSIONS", "SHAPE_CLASSES", "DIGIT_CLASSES", "CIFAR10_CLASSES", "STL10_CLASSES", "PALETTE",
           "COLOUR_NAMES"]
