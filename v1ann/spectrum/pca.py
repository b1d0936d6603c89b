"""PCA eigenspectrum of noise-free activations (network layers), optionally cross-validated.

Activations are (stimulus, unit). Every unit is centred over stimuli. The spectrum is the
variance per principal component: the eigenvalues of the covariance over stimuli
(``Z.T @ Z / (n - 1)``). The cross-validated variant fits the components on a random half
of the stimuli and measures the variance along them on the other half, so it does not
inherit the upward bias of the fitted half's top eigenvalues.

Whichever of the unit covariance (units ≤ stimuli) and the stimulus Gram matrix (more
units than stimuli) is smaller is formed, the latter streamed over unit chunks, so a wide
layer never needs more than O(n_stimuli² + chunk) memory in float64.
"""

from __future__ import annotations

import numpy as np
import torch
import xarray as xr

from v1ann._checks import check_n_components
from v1ann._docs import fill_doc
from v1ann._linalg import top_eigenpairs
from v1ann._threads import uses_thread_budget
from v1ann._utils import make_rng, resolve_device
from v1ann.errors import InvalidInputError, warn

__all__ = ["pca_spectrum"]

PCA_DIMS = ("stimulus", "unit")
_CHUNK_BYTES = 64 * 2**20


@uses_thread_budget
@fill_doc
def pca_spectrum(
    x,
    *,
    n_components: int | None = None,
    cross_validated: bool = False,
    fit_on=None,
    seed=None,
    device="auto",
) -> xr.DataArray:
    """Variance per principal component of (stimulus, unit) activations.

    Parameters
    ----------
    x : xarray.DataArray, ndarray or torch.Tensor
        Activations, shape (n_stimuli, n_units); a DataArray needs dims (``stimulus``,
        ``unit``) (numpy- or dask-backed).
    n_components : int, optional
        Components returned. Default: all, ``min(n - 1, n_units)`` where ``n`` is the
        number of stimuli used to fit the components (half of them when cross-validated);
        cross-validated directions beyond the fitting half's rank are undefined and are
        dropped from the default with a :class:`V1AnnWarning` (an explicit request raises).
    cross_validated : bool
        Fit the components on a random half of the stimuli (``ceil(n/2)`` of them) and
        return the variance along each one over the other half.
    fit_on : array-like, optional
        Other activations of the same units, shape (n_other, n_units), as ``x`` accepts:
        the components are fitted on them and the variance along each is measured on
        ``x`` (each set centred over its own stimuli). With the training inputs here and
        held-out inputs as ``x``, the spectrum is that of the held-out representation in the
        training set's principal directions, free of the upward bias of few samples' top
        eigenvalues; the large components' variance leaking into the estimated small ones
        makes steep spectra read flatter instead. Excludes ``cross_validated``.
    seed : int, numpy.random.Generator or None
        Seed of the stimulus split (cross-validated only).
    %(device)s

    Returns
    -------
    xarray.DataArray
        ``variance`` over ``rank`` (1-based), float64, in activation units², sorted by
        the fitted components' order. Attrs ``method`` (``"pca"``, ``"cv_pca"``, or
        ``"fit_on_pca"`` with ``fit_on``), ``n_stimuli`` (of ``x``), ``n_units``,
        ``cross_validated``, ``n_fit_stimuli``, ``seed``, ``numerical_rank``.

        Eigenvalues at most ``max(n_stimuli, n_units) · eps · λ₁`` (float64 ``eps``: the
        rounding error of the eigendecomposition, as ``numpy.linalg.matrix_rank`` uses for
        singular values) are rounding noise of a rank-deficient layer (dead units, a
        bottleneck) and are set to exactly 0; ``numerical_rank`` counts the others. A fit
        over those ranks then refuses (or, with ``nonpositive="truncate"``, stops) instead
        of reading the noise as a steep power law.

    Raises
    ------
    InvalidInputError
        Wrong shape or dims, NaN/Inf, fewer than 2 (4 when cross-validated) stimuli,
        ``fit_on`` with other units or beside ``cross_validated``, or ``n_components``
        larger than the data allow.

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> train, heldout = rng.standard_normal((400, 50)), rng.standard_normal((100, 50))
    >>> pca_spectrum(heldout, fit_on=train).sizes["rank"]
    50
    """

    data, source = _activation_array(x)
    n_stimuli, n_units = (int(n) for n in data.shape)
    least = 4 if cross_validated else 2
    if n_stimuli < least:
        raise InvalidInputError(f"x ({source}) needs at least {least} stimuli, got {n_stimuli}")
    dev = resolve_device(device)
    if fit_on is not None:
        data, fit_rows, test_rows = _stacked(fit_on, data, cross_validated, source)
    elif cross_validated:
        fit_rows, test_rows = cv_halves(n_stimuli, seed)
    else:
        fit_rows, test_rows = np.arange(n_stimuli), None
    limit = min(fit_rows.size - 1, n_units)
    requested = n_components is not None
    n_components = _n_components(n_components, limit)

    variance = _variance(data, fit_rows, test_rows, n_components, requested, dev, source)
    n_components = variance.size
    attrs = {
        "method": "fit_on_pca" if fit_on is not None else "cv_pca" if cross_validated else "pca",
        "n_stimuli": n_stimuli,
        "n_units": n_units,
        "cross_validated": bool(cross_validated),
        "n_fit_stimuli": int(fit_rows.size),
        "seed": seed if cross_validated and isinstance(seed, (int, np.integer)) else None,
        "source": source,
        "numerical_rank": int(np.count_nonzero(variance)),
    }
    return xr.DataArray(
        variance, dims=("rank",), coords={"rank": np.arange(1, n_components + 1)}, name="variance", attrs=attrs
    )


def _stacked(fit_on, data, cross_validated: bool, source: str):
    """``[fit_on; x]`` as one array (numpy or torch, as ``x``), with the rows of each."""
    if cross_validated:
        raise InvalidInputError("pass fit_on or cross_validated=True, not both: fit_on already holds the "
                                "stimuli that fit the components")
    other, other_source = _activation_array(fit_on)
    if other.shape[1] != data.shape[1]:
        raise InvalidInputError(f"fit_on ({other_source}) has {other.shape[1]} units, x ({source}) has "
                                f"{data.shape[1]}: they must be activations of the same units")
    if other.shape[0] < 2:
        raise InvalidInputError(f"fit_on ({other_source}) needs at least 2 stimuli, got {other.shape[0]}")
    n_fit, n = int(other.shape[0]), int(data.shape[0])
    rows = np.arange(n_fit), np.arange(n_fit, n_fit + n)
    # stacked in the inputs' own kind: dask stays lazy, so the unit chunks still stream
    parts = [p.detach().cpu().numpy() if hasattr(p, "detach") else p for p in (other, data)]
    if any(hasattr(p, "compute") for p in parts):
        import dask.array as da

        return da.concatenate([da.asarray(p) for p in parts]), *rows
    return np.concatenate(parts), *rows


def cv_halves(n_stimuli: int, seed) -> tuple[np.ndarray, np.ndarray]:
    """The stimuli that fit the components (``ceil(n/2)``) and those that measure them, sorted.

    >>> fit, test = cv_halves(5, seed=0)
    >>> fit.size, test.size, sorted(np.r_[fit, test].tolist()) == list(range(5))
    (3, 2, True)
    """
    order = make_rng(seed).permutation(n_stimuli)
    return np.sort(order[: (n_stimuli + 1) // 2]), np.sort(order[(n_stimuli + 1) // 2 :])


def split_spectrum(values: np.ndarray, fit_rows, test_rows, n_components: int) -> np.ndarray:
    """CPU variance along the top components of ``values[fit_rows]``, measured on ``test_rows``
    (on ``fit_rows`` themselves when None): the inner step of :func:`pca_spectrum`, for resampling."""
    return _variance(values, np.asarray(fit_rows), test_rows, n_components, False, torch.device("cpu"),
                     "resampled activations")


def _variance(data, fit_rows, test_rows, n_components, requested, dev, source) -> np.ndarray:
    """float64 variance per component, in whichever space is smaller, rounding noise set to 0."""
    if data.shape[1] <= fit_rows.size:
        variance = _unit_space(data, fit_rows, test_rows, n_components, dev, source)
    else:
        variance = _stimulus_space(data, fit_rows, test_rows, n_components, requested, dev, source)
    return _without_rounding(variance.to("cpu", torch.float64).numpy(), *data.shape)


def _without_rounding(variance: np.ndarray, n_stimuli: int, n_units: int) -> np.ndarray:
    """``variance`` with the rounding noise of a rank-deficient layer set to 0 (docstring of :func:`pca_spectrum`)."""
    floor = max(n_stimuli, n_units) * np.finfo(np.float64).eps * max(float(variance.max(initial=0.0)), 0.0)
    return np.where(variance > floor, variance, 0.0)


def _activation_array(x):
    if isinstance(x, xr.DataArray):
        if set(x.dims) != set(PCA_DIMS):
            raise InvalidInputError(f"x must have dims {PCA_DIMS}, got {x.dims}")
        source = x.attrs.get("source") or (f"DataArray {x.name!r}" if x.name is not None else "x")
        data = x.transpose(*PCA_DIMS).data
    elif type(x).__module__.startswith("torch"):
        data, source = x.detach(), f"tensor of shape {tuple(x.shape)}"
    else:
        data = x if hasattr(x, "compute") else np.asarray(x)
        source = f"{type(x).__name__} of shape {tuple(data.shape)}"
    if data.ndim != 2:
        raise InvalidInputError(f"x ({source}) must be 2-D (stimulus, unit), got shape {tuple(data.shape)}")
    if data.shape[1] < 1:
        raise InvalidInputError(f"x ({source}) has no units")
    if hasattr(data, "is_complex"):  # torch: floats and integers, not complex or bool
        real = not data.is_complex() and (data.is_floating_point() or str(data.dtype).startswith(("torch.int", "torch.uint")))
    else:
        dtype = np.dtype(data.dtype)
        real = np.issubdtype(dtype, np.number) and not np.issubdtype(dtype, np.complexfloating)
    if not real:
        raise InvalidInputError(f"x ({source}) must hold real numbers, got dtype {data.dtype}")
    return data, source


# Beyond this, sums of squares over thousands of stimuli overflow float64 (1.8e308).
_LARGEST = 1e150


def _load_block(data, cols: slice, dev, source: str):
    """float64 (n_stimuli, n_cols) block on ``dev``, checked finite."""

    block = data[:, cols]
    if hasattr(block, "compute"):
        block = block.compute()
    block = torch.as_tensor(block).to(dev, torch.float64)
    finite = torch.isfinite(block)
    if not finite.all():
        raise InvalidInputError(
            f"x ({source}): units {cols.start}:{cols.stop} contain {int((~finite).sum())} NaN/Inf value(s)"
        )
    largest = float(block.abs().max()) if block.numel() else 0.0
    if largest > _LARGEST:
        raise InvalidInputError(
            f"x ({source}): values up to {largest:.3g} overflow the covariance in float64; "
            "rescale the activations (the spectrum's shape, and alpha, do not change)"
        )
    return block


def _centred(block, rows):
    """Rows ``rows`` of ``block``, every unit centred over them."""

    picked = block[torch.as_tensor(rows, device=block.device)]
    return picked - picked.mean(dim=0)


def _unit_space(data, fit_rows, test_rows, n_components, dev, source):
    """Few units: eigendecompose the (unit, unit) covariance of the fitting stimuli."""
    block = _load_block(data, slice(0, data.shape[1]), dev, source)
    fit = _centred(block, fit_rows)
    evals, evecs = top_eigenpairs(fit.T @ fit, n_components, overwrite=True)
    if test_rows is None:
        return evals.clamp_min(0) / (fit_rows.size - 1)
    test = _centred(block, test_rows)
    return ((test @ evecs) ** 2).sum(dim=0) / (test_rows.size - 1)


def _stimulus_space(data, fit_rows, test_rows, n_components, requested, dev, source):
    """Many units: Gram matrices over stimuli, accumulated over unit chunks.

    With ``K = Z_fit Z_fit^T = U diag(s²) U^T`` the unit-space components are
    ``Z_fit^T U / s``, so the test variance along them is ``|Z_test Z_fit^T U|² / s²``.
    """

    n_units = data.shape[1]
    chunk = max(1, _CHUNK_BYTES // (8 * data.shape[0]))
    n_fit = fit_rows.size
    gram = torch.zeros((n_fit, n_fit), dtype=torch.float64, device=dev)
    cross = None if test_rows is None else torch.zeros((test_rows.size, n_fit), dtype=torch.float64, device=dev)
    for start in range(0, n_units, chunk):
        cols = slice(start, min(start + chunk, n_units))
        block = _load_block(data, cols, dev, source)
        fit = _centred(block, fit_rows)
        gram.addmm_(fit, fit.T)
        if cross is not None:
            cross.addmm_(_centred(block, test_rows), fit.T)
    evals, evecs = top_eigenpairs(gram, n_components, overwrite=True)
    if cross is None:
        return evals.clamp_min(0) / (n_fit - 1)
    # Directions beyond the fitting half's rank are undefined (s ~ 0): never divide by them.
    rank = int((evals > float(evals[0]) * 1e-12).sum())
    if rank < n_components and requested:
        raise InvalidInputError(
            f"x ({source}): n_components={n_components} exceeds the rank ({rank}) of the fitting "
            "half's activations; ask for fewer components"
        )
    if rank < n_components:
        warn(f"pca_spectrum: dropped {n_components - rank} component(s) beyond the rank ({rank}) of "
            f"the fitting half's activations ({source})")
        evals, evecs = evals[:rank], evecs[:, :rank]
    return ((cross @ evecs) ** 2).sum(dim=0) / evals / (test_rows.size - 1)


def _n_components(n_components, limit: int) -> int:
    return check_n_components(n_components, limit, "min(n_fit_stimuli - 1, n_units), the components the data allow")
