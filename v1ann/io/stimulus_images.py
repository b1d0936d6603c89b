"""The stimulus images of the natimg2800 deposit (``images_natimg2800_all.mat``)."""

from __future__ import annotations

import os

import numpy as np
import xarray as xr

from v1ann._checks import check_path
from v1ann.errors import DataFileError
from v1ann.io._matfile import read_mat, to_numpy

__all__ = ["load_stimulus_images"]


def load_stimulus_images(path: str | os.PathLike, *, key: str = "imgs") -> xr.DataArray:
    """Load the images the mice saw, one per stimulus id.

    Parameters
    ----------
    path : path-like
        ``images_natimg2800_all.mat`` (MATLAB v5/v7 or v7.3): variable ``imgs`` of shape
        (68, 270, n_images) -- height x width x image, the 270 px spanning the three
        screens.
    key : str
        Name of the image variable.

    Returns
    -------
    xarray.DataArray
        float32, dims (``stimulus``, ``y``, ``x``); ``stimulus`` is the 0-based id used by
        the recordings (image ``k`` is ``istim == k + 1`` in the deposit). Pixel values are
        kept as stored; attrs ``source`` (file name).

    Raises
    ------
    DataFileError
        Missing, truncated or corrupt file; no ``key``; not a 3-D array.
    """
    path = check_path(path)
    tree = read_mat(path)
    if key not in tree:
        raise DataFileError(f"{path}: no {key!r} variable (variables: {sorted(tree)})")
    images = to_numpy(tree[key])
    if images.ndim == 2:  # one image: MATLAB and scipy.io drop the trailing singleton axis
        images = images[:, :, None]
    if images.ndim != 3 or not np.issubdtype(images.dtype, np.number):
        raise DataFileError(f"{path}: {key} has shape {images.shape}; expected (height, width, n_images)")
    images = np.moveaxis(images, 2, 0).astype(np.float32)
    bad = ~np.isfinite(images)
    if bad.any():
        raise DataFileError(
            f"{path}: {key} holds {int(bad.sum())} NaN/Inf pixel(s) in {int(bad.any(axis=(1, 2)).sum())} image(s)"
        )
    n_images, height, width = images.shape
    return xr.DataArray(
        images,
        dims=("stimulus", "y", "x"),
        coords={"stimulus": np.arange(n_images), "y": np.arange(height), "x": np.arange(width)},
        name="images",
        attrs={"source": path.name},
    )
