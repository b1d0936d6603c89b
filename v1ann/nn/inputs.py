"""Turn the grey natural images shown to the mouse into a network's input tensor."""

from __future__ import annotations

from typing import Sequence

import numpy as np
import torch
import torch.nn.functional as F
import xarray as xr

from v1ann._checks import check_option
from v1ann._utils import check_finite
from v1ann.errors import InvalidInputError

__all__ = ["prepare_images", "IMAGENET_MEAN", "IMAGENET_STD"]

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def prepare_images(
    images,
    *,
    size: int | Sequence[int] | None = None,
    channels: int = 1,
    normalize: bool | str | tuple = False,
    crop: str | None = "center",
    value_range: tuple[float, float] | None = None,
) -> torch.Tensor:
    """Make model input from stimulus images (e.g. Stringer's 68×270 grey natural images).

    The steps, in order:

    1. **Layout.** A DataArray is put in ``(stimulus, y, x)`` order (extra ``channel``
       dim allowed: ``(stimulus, channel, y, x)``); arrays and tensors are read as
       ``(N, H, W)`` or ``(N, C, H, W)``.
    2. **Scale to [0, 1]** with one affine map for the whole set, so that differences in
       brightness and contrast between images survive: ``value_range=(lo, hi)`` maps
       ``lo → 0`` and ``hi → 1``; by default integer images are divided by their dtype's
       maximum (uint8: 255), float images already inside [0, 1] are kept, and any other
       float images are min–max scaled over the whole set.
    3. **Crop** (``crop="center"``, only with ``size``): the central window with the
       aspect ratio of ``size``, so resizing does not stretch the image. For the 68×270
       panorama and a square model this keeps the central 68×68 pixels, roughly the
       middle one of the three screens. ``crop=None`` resizes the whole image (distorting it).
    4. **Resize** to ``size`` with antialiased bilinear interpolation
       (``torch.nn.functional.interpolate``); this keeps values inside [0, 1].
    5. **Channels**: grey images are repeated to ``channels`` (1, or 3 for RGB models).
    6. **Normalise** (optional): ``"imagenet"`` applies torchvision's ImageNet mean/std
       (needs ``channels=3``); ``(mean, std)`` applies scalars or per-channel values.
       v1ann's own models normalise internally (their first module is ``Normalize``),
       so leave this False for them: they expect pixels in [0, 1].

    Parameters
    ----------
    images : xarray.DataArray, ndarray or Tensor
        ``(stimulus, y, x)`` grey images (as from :func:`v1ann.load_stimulus_images`),
        any numeric range. Not modified.
    size : int or (height, width), optional
        Output size in pixels; None keeps the input size (and skips cropping).
    channels : int
        Output channels (grey replicated).
    normalize : False, "imagenet" or (mean, std)
    crop : {"center", None}
    value_range : (lo, hi), optional
        The pixel values that mean black and white; values outside are an error.

    Returns
    -------
    torch.Tensor
        float32, shape ``(N, channels, height, width)``, on the CPU; pixel values in
        [0, 1] unless ``normalize`` is set.

    Raises
    ------
    InvalidInputError
        Wrong dims, NaN/Inf, constant images with no ``value_range``, bad ``size``,
        ``channels``, ``crop`` or ``normalize``.
    """
    pixels = _as_nchw(images)
    check_finite(pixels, "images")
    check_option("channels", channels, (1, 3))
    if pixels.shape[1] not in (1, channels):
        raise InvalidInputError(
            f"images have {pixels.shape[1]} channels; cannot make {channels} (only grey images are replicated)"
        )
    check_option("crop", crop, ("center", None))
    x = torch.from_numpy(_unit_scale(pixels, value_range))
    if size is not None:
        height, width = _size(size)
        if crop == "center":
            x = _center_crop(x, height / width)
        if x.shape[-2:] != (height, width):
            x = F.interpolate(x, size=(height, width), mode="bilinear", align_corners=False, antialias=True)
    x = x.expand(-1, channels, -1, -1) if x.shape[1] == 1 else x
    if normalize is not False and normalize is not None:
        mean, std = _normalization(normalize, channels)
        x = (x - mean) / std
    return x.contiguous()


def _as_nchw(images) -> np.ndarray:
    if isinstance(images, xr.DataArray):
        if not {"stimulus", "y", "x"} <= set(images.dims):
            raise InvalidInputError(f"images DataArray has dims {images.dims}; expected ('stimulus', 'y', 'x')")
        order = ("stimulus", "channel", "y", "x") if "channel" in images.dims else ("stimulus", "y", "x")
        if set(images.dims) != set(order):
            raise InvalidInputError(f"images DataArray has dims {images.dims}; expected {order}")
        array = np.asarray(images.transpose(*order).values)
    elif isinstance(images, torch.Tensor):
        array = images.detach().cpu().numpy()
    elif isinstance(images, np.ndarray):
        array = images
    else:
        raise InvalidInputError(f"images must be a DataArray, ndarray or Tensor, got {type(images).__name__}")
    if array.ndim == 3:
        array = array[:, None]
    if array.ndim != 4 or array.shape[0] == 0 or min(array.shape[2:]) < 1:
        raise InvalidInputError(f"images have shape {array.shape}; expected (N, H, W) or (N, C, H, W) with N >= 1")
    if not (np.issubdtype(array.dtype, np.number) or array.dtype == bool) or np.iscomplexobj(array):
        raise InvalidInputError(f"images have dtype {array.dtype}; expected real numbers")
    return array


def _unit_scale(pixels: np.ndarray, value_range) -> np.ndarray:
    """float32 copy of ``pixels`` mapped affinely onto [0, 1] (never a view of the input)."""
    if value_range is not None:
        lo, hi = _pair(value_range, "value_range", float)
        if not hi > lo:
            raise InvalidInputError(f"value_range={value_range!r} needs lo < hi")
        outside = int(((pixels < lo) | (pixels > hi)).sum())
        if outside:
            raise InvalidInputError(f"{outside} pixel value(s) lie outside value_range={value_range!r}")
    elif np.issubdtype(pixels.dtype, np.integer):
        lo, hi = 0.0, float(np.iinfo(pixels.dtype).max)
    elif pixels.dtype == bool:
        lo, hi = 0.0, 1.0
    else:
        lo, hi = float(pixels.min()), float(pixels.max())
        if lo >= 0.0 and hi <= 1.0:
            lo, hi = 0.0, 1.0
        elif hi == lo:
            raise InvalidInputError(
                f"every pixel equals {lo}; pass value_range=(black, white) to say what that value means"
            )
    scaled = (pixels.astype(np.float64) - lo) / (hi - lo)
    return scaled.astype(np.float32)


def _size(size) -> tuple[int, int]:
    height, width = (size, size) if np.isscalar(size) else _pair(size, "size", int)
    if int(height) != height or int(width) != width or height < 1 or width < 1:
        raise InvalidInputError(f"size={size!r} must be a positive int or (height, width)")
    return int(height), int(width)


def _pair(value, name: str, kind):
    try:
        first, second = value
        return kind(first), kind(second)
    except (TypeError, ValueError):
        raise InvalidInputError(f"{name}={value!r} must be a pair of numbers") from None


def _center_crop(x: torch.Tensor, aspect: float) -> torch.Tensor:
    """The largest central window of ``x`` (N, C, H, W) with height / width == ``aspect``."""
    height, width = x.shape[-2:]
    if height / width > aspect:
        new_h, new_w = max(1, round(width * aspect)), width
    else:
        new_h, new_w = height, max(1, round(height / aspect))
    top, left = (height - new_h) // 2, (width - new_w) // 2
    return x[..., top : top + new_h, left : left + new_w]


def _normalization(normalize, channels: int) -> tuple[torch.Tensor, torch.Tensor]:
    if isinstance(normalize, str):
        if normalize != "imagenet":
            raise InvalidInputError(f"normalize={normalize!r}; use False, 'imagenet' or (mean, std)")
        if channels != 3:
            raise InvalidInputError("normalize='imagenet' needs channels=3 (ImageNet statistics are per RGB channel)")
        mean, std = IMAGENET_MEAN, IMAGENET_STD
    else:
        try:
            mean, std = normalize
        except (TypeError, ValueError):
            raise InvalidInputError(f"normalize={normalize!r}; use False, 'imagenet' or (mean, std)") from None
    tensors = []
    for name, value in (("mean", mean), ("std", std)):
        try:
            t = torch.as_tensor(value, dtype=torch.float32).reshape(-1)
        except (TypeError, ValueError, RuntimeError):
            t = torch.empty(0)
        if t.numel() not in (1, channels) or not torch.isfinite(t).all():
            raise InvalidInputError(f"normalize {name}={value!r} must be finite: one value or one per channel")
        tensors.append(t.reshape(1, -1, 1, 1))
    if (tensors[1] <= 0).any():
        raise InvalidInputError(f"normalize std={std!r} must be positive")
    return tensors[0], tensors[1]
