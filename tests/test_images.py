"""v1ann.nn.prepare_images: grey stimulus images → model input, each step checked."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import xarray as xr
from hypothesis import given, settings
from hypothesis import strategies as st

from v1ann.errors import InvalidInputError
from v1ann.nn.inputs import IMAGENET_MEAN, IMAGENET_STD, prepare_images


@pytest.fixture
def natural() -> xr.DataArray:
    """Six 68×270 uint8 images, shaped like Stringer's stimulus set."""
    pixels = np.random.default_rng(0).integers(0, 256, size=(6, 68, 270), dtype=np.uint8)
    return xr.DataArray(pixels, dims=("stimulus", "y", "x"), coords={"stimulus": np.arange(6)})


def test_default_output_is_float32_pixels_in_unit_range(natural):
    out = prepare_images(natural, size=28)
    assert out.dtype == torch.float32 and out.shape == (6, 1, 28, 28)
    assert 0.0 <= float(out.min()) and float(out.max()) <= 1.0
    assert out.is_contiguous()


def test_integer_images_are_divided_by_their_dtype_maximum(natural):
    out = prepare_images(natural)
    assert out.shape == (6, 1, 68, 270)
    np.testing.assert_allclose(out[:, 0].numpy(), natural.values / 255.0, rtol=1e-6)


def test_float_images_share_one_affine_map():
    # image 1 has half the contrast of image 0; a per-image rescale would erase that
    base = np.linspace(-50.0, 150.0, 68 * 270).reshape(68, 270)
    images = np.stack([base, 50 + 0.5 * (base - 50)])
    out = prepare_images(images)[:, 0].numpy()
    assert out[0].min() == pytest.approx(0.0) and out[0].max() == pytest.approx(1.0)
    assert out[1].max() - out[1].min() == pytest.approx(0.5, rel=1e-5)
    unit = np.random.default_rng(1).uniform(0.2, 0.7, size=(2, 10, 10))
    np.testing.assert_allclose(prepare_images(unit)[:, 0].numpy(), unit, rtol=1e-6)  # already pixels
    np.testing.assert_allclose(
        prepare_images(unit, value_range=(0.2, 0.7))[:, 0].numpy(), (unit - 0.2) / 0.5, rtol=1e-5, atol=1e-6
    )


def test_center_crop_keeps_the_middle_of_the_panorama(natural):
    out = prepare_images(natural, size=68)  # square target: central 68 columns, no resizing
    np.testing.assert_allclose(out[:, 0].numpy(), natural.values[:, :, 101:169] / 255.0, rtol=1e-6)
    wide = prepare_images(natural, size=(34, 135))  # same aspect as the input: nothing cropped
    squashed = prepare_images(natural, size=(34, 135), crop=None)
    torch.testing.assert_close(wide, squashed)


def test_resizing_without_crop_keeps_the_whole_image():
    left_dark = np.zeros((1, 68, 270), dtype=np.uint8)
    left_dark[..., 135:] = 255
    out = prepare_images(left_dark, size=(20, 20), crop=None)[0, 0].numpy()
    assert out[:, :9].max() < 0.05 and out[:, 11:].min() > 0.95  # the edge stays in the middle
    cropped = prepare_images(left_dark, size=(20, 20))[0, 0].numpy()
    assert cropped[:, 0].max() < 0.05 and cropped[:, -1].min() > 0.95


def test_channels_are_replicated_and_imagenet_normalised(natural):
    rgb = prepare_images(natural, size=32, channels=3)
    assert rgb.shape == (6, 3, 32, 32)
    torch.testing.assert_close(rgb[:, 0], rgb[:, 2])
    normed = prepare_images(natural, size=32, channels=3, normalize="imagenet")
    mean = torch.tensor(IMAGENET_MEAN).reshape(1, 3, 1, 1)
    std = torch.tensor(IMAGENET_STD).reshape(1, 3, 1, 1)
    torch.testing.assert_close(normed, (rgb - mean) / std)
    custom = prepare_images(natural, size=32, normalize=(0.5, 0.25))
    torch.testing.assert_close(custom, (prepare_images(natural, size=32) - 0.5) / 0.25)


def test_input_is_not_modified_and_dims_are_reordered(natural):
    before = natural.copy(deep=True)
    out = prepare_images(natural.transpose("x", "stimulus", "y"), size=28)
    xr.testing.assert_identical(natural, before)
    torch.testing.assert_close(out, prepare_images(natural, size=28))
    as_array = natural.values.astype(np.float32) / 255
    result = prepare_images(as_array)
    result += 1  # the result owns its memory
    np.testing.assert_array_equal(as_array, natural.values.astype(np.float32) / 255)


def test_nchw_input_and_tensor_input():
    x = torch.rand(3, 1, 10, 12)
    torch.testing.assert_close(prepare_images(x), x)
    with pytest.raises(InvalidInputError, match="3 channels"):
        prepare_images(torch.rand(3, 3, 10, 12), channels=1)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"channels": 2}, "channels"),
        ({"channels": 1, "normalize": "imagenet"}, "channels=3"),
        ({"normalize": "zscore"}, "normalize"),
        ({"normalize": (0.5, 0.0)}, "positive"),
        ({"normalize": ((0.1, 0.2), 1.0)}, "one per channel"),
        ({"size": 0}, "size"),
        ({"size": (3, 4, 5)}, "size"),
        ({"crop": "random"}, "crop"),
        ({"value_range": (0, 100)}, "outside value_range"),
        ({"value_range": (5, 5)}, "lo < hi"),
    ],
)
def test_bad_arguments(natural, kwargs, match):
    with pytest.raises(InvalidInputError, match=match):
        prepare_images(natural, **kwargs)


def test_bad_images():
    with pytest.raises(InvalidInputError, match="NaN"):
        prepare_images(np.full((2, 5, 5), np.nan))
    with pytest.raises(InvalidInputError, match="every pixel equals"):
        prepare_images(np.full((2, 5, 5), 7.0))
    with pytest.raises(InvalidInputError, match="shape"):
        prepare_images(np.zeros((5, 5)))
    with pytest.raises(InvalidInputError, match="dims"):
        prepare_images(xr.DataArray(np.zeros((2, 5, 5)), dims=("trial", "y", "x")))
    with pytest.raises(InvalidInputError, match="DataArray, ndarray or Tensor"):
        prepare_images([[[0.0]]])


@settings(max_examples=25, deadline=None)
@given(
    height=st.integers(1, 40),
    width=st.integers(1, 80),
    size=st.tuples(st.integers(1, 30), st.integers(1, 30)),
    crop=st.sampled_from(["center", None]),
    seed=st.integers(0, 2**16),
)
def test_any_size_gives_pixels_in_unit_range(height, width, size, crop, seed):
    pixels = np.random.default_rng(seed).integers(0, 256, size=(2, height, width), dtype=np.uint8)
    out = prepare_images(pixels, size=size, crop=crop)
    assert out.shape == (2, 1) + size
    assert float(out.min()) >= 0.0 and float(out.max()) <= 1.0 + 1e-6
