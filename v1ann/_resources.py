"""Paths of data files shipped inside the package (see data/README.md)."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

import numpy as np
import xarray as xr

STRINGER_SPECTRUM = "stringer2019_natimg2800_cvpca_spectrum.csv"


def data_file(name: str) -> Path:
    """Path of a file in ``v1ann/_data``."""
    return Path(str(resources.files("v1ann") / "_data" / name))


def stringer_reference_spectrum():
    """The real Stringer 2019 natimg2800 cvPCA spectrum as a DataArray over ``rank``.

    Published fit (ranks 12..500, weights 1/rank, normalised to sum 1): alpha = 0.97336.
    """

    table = np.loadtxt(data_file(STRINGER_SPECTRUM), delimiter=",", skiprows=1)
    return xr.DataArray(
        table[:, 1],
        dims=("rank",),
        coords={"rank": table[:, 0].astype(int)},
        name="signal_variance",
        attrs={
            "source": "Stringer et al. 2019, natimg2800, via Gerum et al. 2022 (stringer.npy)",
            "method": "cvpca",
            "published_alpha": 0.97336,
        },
    )
