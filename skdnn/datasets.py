"""Data sets for examples, benchmarks and tests.

Nothing is downloaded: the loaders read files that are already installed,
for instance by a distribution package.
"""

from __future__ import annotations

import gzip
import math
import os
import struct
import zlib
from pathlib import Path

import numpy as np
from sklearn.utils import Bunch

__all__ = ["load_fashion_mnist"]

#: Where Debian's ``dataset-fashion-mnist`` package installs the idx files.
FASHION_MNIST_SYSTEM_DIR = Path("/usr/share/datasets/fashion-mnist")
#: Environment variable naming a folder with the Fashion-MNIST idx files.
FASHION_MNIST_ENV_VAR = "SKDNN_FASHION_MNIST_DIR"

_FASHION_MNIST_CLASSES = (
    "T-shirt/top",
    "Trouser",
    "Pullover",
    "Dress",
    "Coat",
    "Sandal",
    "Shirt",
    "Sneaker",
    "Bag",
    "Ankle boot",
)
_IMAGE_SHAPE = (28, 28)
# idx magic numbers: 0x08 (unsigned byte) and the number of dimensions.
_IDX_IMAGES_MAGIC = 2051
_IDX_LABELS_MAGIC = 2049
# File name prefix of each split, as in the original distribution.
_SPLIT_PREFIXES = {"train": "train", "test": "t10k"}

_FASHION_MNIST_DESCR = """\
Fashion-MNIST
=============

Grey-scale 28x28 pictures of clothing articles from Zalando's catalogue, in
10 classes: T-shirt/top, Trouser, Pullover, Dress, Coat, Sandal, Shirt,
Sneaker, Bag and Ankle boot. The training split holds 60,000 images (6,000
per class) and the test split 10,000 (1,000 per class).

Each image is one row of 784 pixel intensities, scaled from 0-255 to [0, 1]
as float32, in row-major order; reshape a row to ``image_shape`` to see the
picture. Labels are the class indices 0-9; ``target_names`` gives their names.

Fashion-MNIST was published by Han Xiao, Kashif Rasul and Roland Vollgraf
(2017, arXiv:1708.07747) under the MIT license as a harder drop-in
replacement for the MNIST digits.
"""


def load_fashion_mnist(
    data_home: str | os.PathLike[str] | None = None,
    *,
    subset: str = "all",
    return_X_y: bool = False,
) -> Bunch | tuple[np.ndarray, np.ndarray]:
    """Load the Fashion-MNIST images of clothing (classification, 10 classes).

    The data are read from the four idx files of the original distribution
    (``train-images-idx3-ubyte``, ``train-labels-idx1-ubyte``,
    ``t10k-images-idx3-ubyte``, ``t10k-labels-idx1-ubyte``), gzip-compressed
    (``.gz``) or not. Nothing is downloaded; the folder is, in this order of
    precedence:

    1. ``data_home``, when given;
    2. the folder named by the environment variable ``SKDNN_FASHION_MNIST_DIR``,
       when set;
    3. ``/usr/share/datasets/fashion-mnist``, where Debian's package
       ``dataset-fashion-mnist`` installs them.

    Only the first folder that applies is searched, so an explicit location
    is never silently replaced by another one.

    =================  ==============
    Classes                        10
    Samples total              70,000
    Samples per class           7,000
    Dimensionality                784
    Features           float in [0, 1]
    =================  ==============

    Parameters
    ----------
    data_home : str or os.PathLike, default=None
        Folder that holds the idx files. ``None`` means the environment
        variable, then the system folder (see above).
    subset : {"all", "train", "test"}, default="all"
        Which split to return as ``data``/``target``. ``"all"`` returns the
        60,000 training images followed by the 10,000 test images.
    return_X_y : bool, default=False
        If True, return ``(data, target)`` instead of a Bunch.

    Returns
    -------
    data : sklearn.utils.Bunch
        Dictionary-like object with the attributes:

        data : ndarray of shape (n_samples, 784), dtype float32
            The images, one flattened 28x28 image per row, in [0, 1].
        target : ndarray of shape (n_samples,), dtype int64
            The class index of each image, 0-9.
        target_names : ndarray of shape (10,)
            The name of each class.
        image_shape : tuple of int
            ``(28, 28)``, the shape of one image.
        DESCR : str
            A description of the data set.
        X_train, y_train, X_test, y_test : ndarray
            Only for ``subset="all"``: the official split, 60,000 training
            and 10,000 test samples. These are views of ``data`` and
            ``target``, not copies.
    (data, target) : tuple of ndarray
        If ``return_X_y`` is True.

    Raises
    ------
    FileNotFoundError
        If the idx files are not in the folder searched. The message says
        where it looked and how to install the data.
    ValueError
        If ``subset`` is unknown, or a file is corrupt (wrong magic number,
        size or labels).

    Examples
    --------
    >>> from skdnn.datasets import load_fashion_mnist
    >>> fmnist = load_fashion_mnist()  # doctest: +SKIP
    >>> fmnist.X_train.shape, fmnist.X_test.shape  # doctest: +SKIP
    ((60000, 784), (10000, 784))
    """
    if subset not in ("all", "train", "test"):
        raise ValueError(f"subset must be 'all', 'train' or 'test', got {subset!r}")
    splits = ("train", "test") if subset == "all" else (subset,)
    folder, source = _fashion_mnist_folder(data_home)
    files = {
        split: (
            _find_idx_file(folder, f"{_SPLIT_PREFIXES[split]}-images-idx3-ubyte", source),
            _find_idx_file(folder, f"{_SPLIT_PREFIXES[split]}-labels-idx1-ubyte", source),
        )
        for split in splits
    }

    raw = {
        split: (_read_images(images), _read_labels(labels))
        for split, (images, labels) in files.items()
    }
    for split, (images, labels) in raw.items():
        if len(images) != len(labels):
            image_file, label_file = files[split]
            raise ValueError(
                f"{image_file} holds {len(images)} images but {label_file} holds "
                f"{len(labels)} labels; the Fashion-MNIST files are corrupt"
            )

    # Scale straight into one preallocated array: no intermediate copies.
    n_samples = [len(labels) for _, labels in raw.values()]
    data = np.empty((sum(n_samples), _IMAGE_SHAPE[0] * _IMAGE_SHAPE[1]), dtype=np.float32)
    target = np.empty(sum(n_samples), dtype=np.int64)
    start = 0
    for images, labels in raw.values():
        stop = start + len(labels)
        np.divide(images.reshape(len(labels), -1), np.float32(255), out=data[start:stop])
        target[start:stop] = labels
        start = stop

    if return_X_y:
        return data, target
    bunch = Bunch(
        data=data,
        target=target,
        target_names=np.array(_FASHION_MNIST_CLASSES),
        image_shape=_IMAGE_SHAPE,
        DESCR=_FASHION_MNIST_DESCR,
    )
    if subset == "all":
        n_train = n_samples[0]
        bunch.update(
            X_train=data[:n_train],
            y_train=target[:n_train],
            X_test=data[n_train:],
            y_test=target[n_train:],
        )
    return bunch


def _fashion_mnist_folder(data_home: str | os.PathLike[str] | None) -> tuple[Path, str]:
    """The folder to search and a phrase saying where its name came from."""
    if data_home is not None:
        return Path(data_home).expanduser(), "the data_home argument"
    from_env = os.environ.get(FASHION_MNIST_ENV_VAR)
    if from_env:
        return Path(from_env).expanduser(), f"the environment variable {FASHION_MNIST_ENV_VAR}"
    return FASHION_MNIST_SYSTEM_DIR, "the default location"


def _find_idx_file(folder: Path, name: str, source: str) -> Path:
    """Path of the idx file ``name`` in ``folder``, uncompressed or gzipped."""
    for candidate in (folder / name, folder / f"{name}.gz"):
        if candidate.is_file():
            return candidate
    raise FileNotFoundError(
        f"Fashion-MNIST file {name}[.gz] not found in {folder} (from {source}). "
        "skdnn downloads nothing. On Debian/Ubuntu install the data with "
        "`sudo apt-get install dataset-fashion-mnist`; otherwise put the four idx files "
        "(train-images-idx3-ubyte, train-labels-idx1-ubyte, t10k-images-idx3-ubyte, "
        "t10k-labels-idx1-ubyte, each optionally .gz) in a folder and pass it as data_home "
        f"or set the environment variable {FASHION_MNIST_ENV_VAR} to it."
    )


def _read_idx(path: Path, magic: int) -> np.ndarray:
    """Read an idx file of unsigned bytes as a read-only uint8 array.

    The idx format is a big-endian header (the magic number ``0x0800 + ndim``
    and the ``ndim`` dimensions as 32-bit integers) followed by the values.
    """
    content = path.read_bytes()
    if path.suffix == ".gz":
        try:
            content = gzip.decompress(content)
        except (gzip.BadGzipFile, EOFError, zlib.error) as exc:
            raise ValueError(f"{path} is not a valid gzip file (corrupt: {exc})") from exc
    ndim = magic - 0x0800
    header_size = 4 * (1 + ndim)
    if len(content) < header_size:
        raise ValueError(f"{path} is too short for an idx header (truncated or corrupt)")
    found_magic, *shape = struct.unpack(f">{1 + ndim}I", content[:header_size])
    if found_magic != magic:
        raise ValueError(
            f"{path} is not an idx file of the expected kind: magic number {found_magic}, "
            f"expected {magic}"
        )
    n_values = math.prod(shape)
    if len(content) != header_size + n_values:
        raise ValueError(
            f"{path} has {len(content) - header_size} data bytes but its header announces "
            f"shape {tuple(shape)} ({n_values} bytes); the file is truncated or corrupt"
        )
    return np.frombuffer(content, dtype=np.uint8, offset=header_size).reshape(shape)


def _read_images(path: Path) -> np.ndarray:
    images = _read_idx(path, _IDX_IMAGES_MAGIC)
    if images.shape[1:] != _IMAGE_SHAPE:
        raise ValueError(
            f"{path} holds images of shape {images.shape[1:]}, expected {_IMAGE_SHAPE}"
        )
    return images


def _read_labels(path: Path) -> np.ndarray:
    labels = _read_idx(path, _IDX_LABELS_MAGIC)
    n_classes = len(_FASHION_MNIST_CLASSES)
    if labels.size and labels.max() >= n_classes:
        raise ValueError(f"{path} holds the label {labels.max()}; labels must be below {n_classes}")
    return labels
