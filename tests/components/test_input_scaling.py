import numpy as np
import pytest
import torch
from safetensors.torch import load_file, save_file

from skdnn.components.input_scaling import (
    INPUT_SCALINGS,
    RobustScaleSmoothClip,
    robust_scale_statistics,
    smooth_clip,
)


def test_statistics_are_median_and_inverse_iqr_ignoring_nan():
    rng = np.random.default_rng(0)
    X = rng.lognormal(size=(501, 3))
    X[::7, 1] = np.nan
    center, factor = robust_scale_statistics(X)
    for j in range(3):
        column = X[:, j][~np.isnan(X[:, j])]
        q25, q50, q75 = np.quantile(column, [0.25, 0.5, 0.75])
        assert center[j].item() == pytest.approx(q50)
        assert factor[j].item() == pytest.approx(1 / (q75 - q25))


def test_zero_iqr_falls_back_to_half_range_and_constant_to_zero():
    X = np.array([[0.0, 5.0], [0.0, 5.0], [0.0, 5.0], [0.0, 5.0], [4.0, 5.0]])
    center, factor = robust_scale_statistics(X)
    assert factor.tolist() == [pytest.approx(2 / 4), 0.0]
    scaler = RobustScaleSmoothClip(2, clip=None).fit(X)
    out = scaler(torch.tensor([[4.0, 9.0]]))
    torch.testing.assert_close(out, torch.tensor([[2.0, 0.0]]))
    assert center.tolist() == [0.0, 5.0]


def test_smooth_clip_formula_and_bound():
    z = torch.tensor([-1e6, -3.0, 0.0, 0.1, 3.0, 1e6], dtype=torch.float64)
    expected = z / torch.sqrt(1 + (z / 3) ** 2)
    torch.testing.assert_close(smooth_clip(z), expected)
    assert smooth_clip(z)[-1].item() == pytest.approx(3.0)
    assert smooth_clip(z)[3].item() == pytest.approx(0.1, rel=1e-3)  # identity near 0
    assert smooth_clip(z, bound=5.0)[-1].item() == pytest.approx(5.0)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_smooth_clip_of_huge_values_is_the_bound(dtype):
    # (z / 3)^2 overflows float32 beyond ~5e19: such values once came out as 0,
    # the median's place, like a missing value.
    z = torch.tensor([6e19, -1e30, 3e38, float("inf"), -float("inf"), 1e6], dtype=dtype)
    out = smooth_clip(z)
    torch.testing.assert_close(out, torch.tensor([3.0, -3.0, 3.0, 3.0, -3.0, 3.0], dtype=dtype))
    assert smooth_clip(torch.tensor([float("nan")], dtype=dtype)).isnan().all()
    scaler = RobustScaleSmoothClip(1).fit(np.arange(10.0)[:, None])
    assert scaler(torch.tensor([[1e30], [-1e30]])).flatten().tolist() == pytest.approx([3, -3])


def test_forward_scales_clips_and_maps_missing_to_zero():
    rng = np.random.default_rng(1)
    X = rng.standard_cauchy(size=(400, 4))
    scaler = RobustScaleSmoothClip(4).fit(X)
    x = torch.tensor(X[:10], dtype=torch.float32)
    x[0, 2] = float("nan")
    out = scaler(x)
    center, factor = robust_scale_statistics(X)
    z = (x.double() - center) * factor
    expected = torch.nan_to_num(z / torch.sqrt(1 + (z / 3) ** 2), nan=0.0).float()
    torch.testing.assert_close(out, expected)
    assert out[0, 2] == 0
    assert out.abs().max() < 3
    unclipped = RobustScaleSmoothClip(4, clip=None).fit(X)
    assert unclipped(torch.tensor(X, dtype=torch.float32)).abs().max() > 3


def test_fitted_statistics_round_trip_through_safetensors(tmp_path):
    X = np.random.default_rng(2).normal(3.0, 2.0, size=(200, 3))
    scaler = RobustScaleSmoothClip(3).fit(X)
    save_file(scaler.state_dict(), tmp_path / "scaler.safetensors")
    restored = RobustScaleSmoothClip(3)
    restored.load_state_dict(load_file(tmp_path / "scaler.safetensors"))
    x = torch.randn(5, 3)
    torch.testing.assert_close(restored(x), scaler(x))


def test_registry_builds_fitted_scalers():
    X = np.random.default_rng(3).normal(size=(50, 2))
    clipped = INPUT_SCALINGS.build("robust_smooth_clip", X=X)
    plain = INPUT_SCALINGS.build("robust", X=X)
    assert clipped.clip == 3.0 and plain.clip is None and bool(plain.fitted)
    with pytest.raises(ValueError, match="Unknown parameter"):
        INPUT_SCALINGS.build("robust_smooth_clip", {"bound": 2.0}, X=X)


def test_bad_input_gives_clear_errors():
    with pytest.raises(ValueError, match="fitted"):
        RobustScaleSmoothClip(2)(torch.zeros(1, 2))
    scaler = RobustScaleSmoothClip(2).fit(np.ones((3, 2)))
    with pytest.raises(ValueError, match=r"\(n, 2\)"):
        scaler(torch.zeros(3, 3))
    with pytest.raises(ValueError, match="expected 2"):
        RobustScaleSmoothClip(2).fit(np.ones((3, 3)))
    with pytest.raises(ValueError, match="infinite"):
        RobustScaleSmoothClip(1).fit(np.array([[1.0], [np.inf]]))
    with pytest.raises(ValueError, match="without any observed"):
        RobustScaleSmoothClip(2).fit(np.array([[1.0, np.nan], [2.0, np.nan]]))
    with pytest.raises(ValueError, match="numbers"):
        RobustScaleSmoothClip(1).fit(np.array([["a"], ["b"]], dtype=object))
    with pytest.raises(ValueError, match="clip"):
        RobustScaleSmoothClip(2, clip=0)
