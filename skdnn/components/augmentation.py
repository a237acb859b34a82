"""Data augmentation for flattened images: random shifts and rotations per batch."""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F


@dataclass(frozen=True)
class RandomShiftRotation:
    """Shift and rotate each flattened image of a batch by a random small amount.

    Pass an instance as ``augment=`` to an skdnn estimator: the training loop
    calls it on every training batch with the fit's own generator, so the
    augmented stream is reproducible for a given ``random_state``. Validation
    and prediction never see augmented data.

    Parameters
    ----------
    image_shape : tuple of int
        ``(height, width)`` or ``(channels, height, width)`` of one image; the
        batch holds rows of ``prod(image_shape)`` features.
    max_shift : float, default=2.0
        Largest shift in pixels, drawn uniformly in ``[-max_shift, max_shift]``
        along each axis.
    max_rotation : float, default=10.0
        Largest rotation in degrees, drawn uniformly in ``[-max_rotation, max_rotation]``.
    fill : float, default=0.0
        Value of pixels moved in from outside the image.
    """

    image_shape: tuple[int, ...]
    max_shift: float = 2.0
    max_rotation: float = 10.0
    fill: float = 0.0

    def __post_init__(self) -> None:
        if len(self.image_shape) not in (2, 3) or min(self.image_shape) < 1:
            raise ValueError(
                f"image_shape must be (height, width) or (channels, height, width), "
                f"got {self.image_shape!r}."
            )
        if self.max_shift < 0 or self.max_rotation < 0:
            raise ValueError("max_shift and max_rotation must be >= 0.")

    def __call__(self, X: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
        """Return an augmented copy of the batch ``X`` of shape (n, prod(image_shape))."""
        shape = tuple(self.image_shape)
        channels, height, width = shape if len(shape) == 3 else (1, *shape)
        if X.shape[1] != channels * height * width:
            raise ValueError(
                f"RandomShiftRotation expects rows of {channels * height * width} features "
                f"for image_shape={shape}, got {X.shape[1]}."
            )
        n = X.shape[0]
        uniform = torch.rand(n, 3, generator=generator, device=X.device) * 2 - 1
        angle = uniform[:, 0] * math.radians(self.max_rotation)
        # affine_grid works in normalised coordinates spanning 2 units per image side.
        shift_x = uniform[:, 1] * (2 * self.max_shift / width)
        shift_y = uniform[:, 2] * (2 * self.max_shift / height)
        cos, sin = torch.cos(angle), torch.sin(angle)
        theta = torch.stack(
            [torch.stack([cos, -sin, shift_x], 1), torch.stack([sin, cos, shift_y], 1)], 1
        )
        images = X.reshape(n, channels, height, width) - self.fill
        grid = F.affine_grid(theta, list(images.shape), align_corners=False)
        moved = F.grid_sample(images, grid, align_corners=False, padding_mode="zeros")
        return (moved + self.fill).reshape(n, -1)
