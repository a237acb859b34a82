import numpy as np
import pytest
import torch

from skdnn import DNNClassifier
from skdnn.components.augmentation import RandomShiftRotation


def generator(seed=0):
    return torch.Generator().manual_seed(seed)


def test_identity_when_no_motion():
    X = torch.rand(4, 64)
    out = RandomShiftRotation((8, 8), max_shift=0, max_rotation=0)(X, generator())
    assert torch.allclose(out, X, atol=1e-5)


def test_pure_shift_moves_pixels_by_whole_steps():
    image = torch.zeros(1, 1, 9, 9)
    image[0, 0, 4, 4] = 1.0
    augmenter = RandomShiftRotation((9, 9), max_shift=2, max_rotation=0)
    out = augmenter(image.reshape(1, -1), generator(1)).reshape(9, 9)
    assert out.sum().item() == pytest.approx(1.0, abs=1e-4)  # mass moved, not lost
    row, col = np.unravel_index(out.argmax().item(), (9, 9))
    assert abs(row - 4) <= 2 and abs(col - 4) <= 2


def test_rotation_preserves_centre_and_changes_image():
    X = torch.rand(8, 28 * 28)
    augmenter = RandomShiftRotation((28, 28), max_shift=0, max_rotation=30)
    out = augmenter(X, generator())
    assert out.shape == X.shape
    assert not torch.allclose(out, X)
    centre = 14 * 28 + 14
    assert torch.allclose(out[:, centre], X[:, centre], atol=0.35)


def test_reproducible_with_generator_and_channels():
    X = torch.rand(5, 3 * 6 * 6)
    augmenter = RandomShiftRotation((3, 6, 6))
    assert torch.equal(augmenter(X, generator(3)), augmenter(X, generator(3)))
    assert not torch.equal(augmenter(X, generator(3)), augmenter(X, generator(4)))


@pytest.mark.parametrize("shape", [(28,), (0, 5), (1, 2, 3, 4)])
def test_bad_image_shape(shape):
    with pytest.raises(ValueError, match="image_shape"):
        RandomShiftRotation(shape)


def test_wrong_row_width():
    with pytest.raises(ValueError, match="expects rows of 64"):
        RandomShiftRotation((8, 8))(torch.rand(2, 10), generator())


def test_used_by_the_estimator(digits):
    X, y, X_test, y_test = digits
    params = dict(hidden_layer_sizes=(64,), max_epochs=4, device="cpu", random_state=0)
    plain = DNNClassifier(**params).fit(X, y)
    augmented = DNNClassifier(augment=RandomShiftRotation((8, 8), 1, 10), **params).fit(X, y)
    assert not np.allclose(plain.predict_proba(X_test), augmented.predict_proba(X_test))
    assert augmented.score(X_test, y_test) > 0.7  # still learns from moved 8x8 digits
