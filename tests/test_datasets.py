"""Tests of skdnn.datasets."""

import gzip
import struct

import numpy as np
import pytest
from sklearn.utils import Bunch

from skdnn.datasets import (
    FASHION_MNIST_ENV_VAR,
    FASHION_MNIST_SYSTEM_DIR,
    load_fashion_mnist,
)

CLASS_NAMES = [
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
]


def _idx_bytes(array: np.ndarray, magic: int) -> bytes:
    return struct.pack(f">{1 + array.ndim}I", magic, *array.shape) + array.tobytes()


def _write_idx(path, array, magic, compress):
    content = _idx_bytes(array, magic)
    if compress:
        path = path.with_name(path.name + ".gz")
        content = gzip.compress(content)
    path.write_bytes(content)


def _fake_split(rng, n):
    return rng.integers(0, 256, size=(n, 28, 28), dtype=np.uint8), rng.integers(
        0, 10, size=n, dtype=np.uint8
    )


@pytest.fixture
def fake_data(tmp_path):
    """Tiny Fashion-MNIST look-alike: 5 training and 3 test images."""
    rng = np.random.default_rng(0)
    splits = {"train": _fake_split(rng, 5), "t10k": _fake_split(rng, 3)}
    for prefix, (images, labels) in splits.items():
        # Mix compressed and uncompressed files: both must be accepted.
        _write_idx(tmp_path / f"{prefix}-images-idx3-ubyte", images, 2051, prefix == "train")
        _write_idx(tmp_path / f"{prefix}-labels-idx1-ubyte", labels, 2049, prefix != "train")
    return tmp_path, splits


# --------------------------------------------------------------- real data


@pytest.fixture(scope="module")
def fashion_mnist():
    try:
        return load_fashion_mnist(FASHION_MNIST_SYSTEM_DIR)
    except FileNotFoundError:
        pytest.skip("dataset-fashion-mnist is not installed")


@pytest.mark.slow
def test_real_data_shapes_dtypes_and_ranges(fashion_mnist):
    bunch = fashion_mnist
    assert isinstance(bunch, Bunch)
    assert bunch.data.shape == (70_000, 784) and bunch.data.dtype == np.float32
    assert bunch.target.shape == (70_000,) and bunch.target.dtype == np.int64
    assert bunch.X_train.shape == (60_000, 784) and bunch.y_train.shape == (60_000,)
    assert bunch.X_test.shape == (10_000, 784) and bunch.y_test.shape == (10_000,)
    assert bunch.data.min() == 0.0 and bunch.data.max() == 1.0
    # Pixels are multiples of 1/255, and not all black or white.
    assert np.allclose(bunch.data[:100] * 255, np.round(bunch.data[:100] * 255), atol=1e-4)
    assert 0.2 < bunch.data.mean() < 0.4
    assert list(bunch.target_names) == CLASS_NAMES
    assert bunch.image_shape == (28, 28)
    assert "Fashion-MNIST" in bunch.DESCR


@pytest.mark.slow
def test_real_data_label_counts(fashion_mnist):
    np.testing.assert_array_equal(np.bincount(fashion_mnist.y_train), [6_000] * 10)
    np.testing.assert_array_equal(np.bincount(fashion_mnist.y_test), [1_000] * 10)
    np.testing.assert_array_equal(fashion_mnist.target[:60_000], fashion_mnist.y_train)
    np.testing.assert_array_equal(fashion_mnist.data[60_000:], fashion_mnist.X_test)


@pytest.mark.slow
def test_default_location(fashion_mnist, monkeypatch):
    monkeypatch.delenv(FASHION_MNIST_ENV_VAR, raising=False)
    X, y = load_fashion_mnist(subset="test", return_X_y=True)
    np.testing.assert_array_equal(X, fashion_mnist.X_test)
    np.testing.assert_array_equal(y, fashion_mnist.y_test)


# ------------------------------------------------------------ synthetic data


def test_synthetic_files_all(fake_data):
    folder, splits = fake_data
    bunch = load_fashion_mnist(folder)
    train_images, train_labels = splits["train"]
    test_images, test_labels = splits["t10k"]

    assert bunch.data.shape == (8, 784) and bunch.data.dtype == np.float32
    assert bunch.target.dtype == np.int64
    np.testing.assert_allclose(bunch.X_train, train_images.reshape(5, 784) / 255, rtol=1e-6)
    np.testing.assert_allclose(bunch.X_test, test_images.reshape(3, 784) / 255, rtol=1e-6)
    np.testing.assert_array_equal(bunch.y_train, train_labels)
    np.testing.assert_array_equal(bunch.y_test, test_labels)
    np.testing.assert_array_equal(bunch.target, np.concatenate([train_labels, test_labels]))
    assert bunch.data.min() >= 0.0 and bunch.data.max() <= 1.0
    assert list(bunch.target_names) == CLASS_NAMES


@pytest.mark.parametrize(("subset", "prefix"), [("train", "train"), ("test", "t10k")])
def test_synthetic_files_single_subset(fake_data, subset, prefix):
    folder, splits = fake_data
    images, labels = splits[prefix]
    bunch = load_fashion_mnist(folder, subset=subset)
    np.testing.assert_allclose(bunch.data, images.reshape(len(images), -1) / 255, rtol=1e-6)
    np.testing.assert_array_equal(bunch.target, labels)
    assert "X_train" not in bunch and "X_test" not in bunch

    X, y = load_fashion_mnist(folder, subset=subset, return_X_y=True)
    np.testing.assert_array_equal(X, bunch.data)
    np.testing.assert_array_equal(y, bunch.target)


def test_single_subset_needs_only_its_files(fake_data):
    folder, _ = fake_data
    (folder / "train-images-idx3-ubyte.gz").unlink()
    assert load_fashion_mnist(folder, subset="test").data.shape == (3, 784)
    with pytest.raises(FileNotFoundError, match="train-images-idx3-ubyte"):
        load_fashion_mnist(folder, subset="train")


def test_env_var_lookup(fake_data, monkeypatch):
    folder, _ = fake_data
    monkeypatch.setenv(FASHION_MNIST_ENV_VAR, str(folder))
    assert load_fashion_mnist().data.shape == (8, 784)


def test_data_home_takes_precedence_over_env_var(fake_data, tmp_path_factory, monkeypatch):
    folder, _ = fake_data
    empty = tmp_path_factory.mktemp("empty")
    monkeypatch.setenv(FASHION_MNIST_ENV_VAR, str(empty))
    assert load_fashion_mnist(folder).data.shape == (8, 784)
    with pytest.raises(FileNotFoundError) as info:
        load_fashion_mnist()
    assert f"{empty} (from the environment variable {FASHION_MNIST_ENV_VAR})" in str(info.value)


def test_missing_files_message(tmp_path):
    with pytest.raises(FileNotFoundError) as info:
        load_fashion_mnist(tmp_path)
    message = str(info.value)
    assert str(tmp_path) in message
    assert "sudo apt-get install dataset-fashion-mnist" in message
    assert FASHION_MNIST_ENV_VAR in message and "data_home" in message


def test_unknown_subset(fake_data):
    with pytest.raises(ValueError, match="subset must be"):
        load_fashion_mnist(fake_data[0], subset="validation")


# ------------------------------------------------------------ corrupt files


def test_corrupt_magic(fake_data):
    folder, splits = fake_data
    images, _ = splits["t10k"]
    (folder / "t10k-images-idx3-ubyte").write_bytes(_idx_bytes(images, 2049))
    with pytest.raises(ValueError, match="magic number 2049, expected 2051"):
        load_fashion_mnist(folder)


def test_truncated_file(fake_data):
    folder, _ = fake_data
    path = folder / "t10k-images-idx3-ubyte"
    path.write_bytes(path.read_bytes()[:-1])
    with pytest.raises(ValueError, match="truncated or corrupt"):
        load_fashion_mnist(folder)
    path.write_bytes(path.read_bytes()[:6])
    with pytest.raises(ValueError, match="too short for an idx header"):
        load_fashion_mnist(folder)


def test_corrupt_gzip(fake_data):
    folder, _ = fake_data
    path = folder / "train-images-idx3-ubyte.gz"
    path.write_bytes(path.read_bytes()[:-10])
    with pytest.raises(ValueError, match="not a valid gzip file"):
        load_fashion_mnist(folder)
    path.write_bytes(b"not gzip at all")
    with pytest.raises(ValueError, match="not a valid gzip file"):
        load_fashion_mnist(folder)


def test_wrong_image_shape(fake_data):
    folder, _ = fake_data
    (folder / "t10k-images-idx3-ubyte").write_bytes(
        _idx_bytes(np.zeros((3, 32, 32), dtype=np.uint8), 2051)
    )
    with pytest.raises(ValueError, match=r"shape \(32, 32\), expected \(28, 28\)"):
        load_fashion_mnist(folder)


def test_label_count_mismatch(fake_data):
    folder, _ = fake_data
    (folder / "t10k-labels-idx1-ubyte").write_bytes(_idx_bytes(np.zeros(4, np.uint8), 2049))
    with pytest.raises(ValueError, match=r"3 images but .* 4 labels"):
        load_fashion_mnist(folder)


def test_label_out_of_range(fake_data):
    folder, _ = fake_data
    (folder / "t10k-labels-idx1-ubyte").write_bytes(
        _idx_bytes(np.array([0, 10, 2], np.uint8), 2049)
    )
    with pytest.raises(ValueError, match="label 10"):
        load_fashion_mnist(folder)
