"""Cross-validated PCA (Stringer, Pachitariu et al., Nature 2019), computed from Gram matrices.

The published code, per shuffle, fits ``sklearn.PCA`` on the first repeat with neurons as
samples (so it centres each stimulus across neurons), projects both repeats on the
components ``xproj = X0.T @ (u / sv)`` without centring, and sums the products of the
projections over stimuli. Everything in it is a function of the stimulus Gram blocks
``G_ab = X_a X_b^T`` and the per-stimulus neuron sums ``s_a`` (centring across neurons is a
rank-one correction), so we form those once (:func:`v1ann.spectrum.gram.repeat_gram`,
streamed over neuron chunks) and each shuffle costs one symmetric eigendecomposition of an
n_stimuli × n_stimuli matrix plus one matrix product. See ``docs/spectra-estimators.md``.
"""

from __future__ import annotations

import numpy as np
import torch
import xarray as xr

from v1ann._checks import check_int, check_n_components, check_option
from v1ann._docs import fill_doc
from v1ann._linalg import symmetric_eigh
from v1ann._progress import progress_bar
from v1ann._threads import uses_thread_budget
from v1ann._utils import make_rng, release_freed_memory
from v1ann.errors import InvalidInputError, warn
from v1ann.spectrum.gram import RepeatGram, repeat_gram

__all__ = ["cvpca"]

PUBLISHED_MAX_COMPONENTS = 1024
# solver -> precision of the Gram products and of each shuffle's eigendecomposition
SOLVERS = {"exact": "float64", "float32": "float32"}


@uses_thread_budget
@fill_doc
def cvpca(
    responses,
    *,
    n_shuffles: int = 10,
    n_components: int | None = None,
    solver: str = "exact",
    seed=None,
    device="auto",
    chunk_size: int | None = None,
    progress: bool = True,
    keep_shuffles: bool = False,
) -> xr.DataArray:
    """Cross-validated PCA spectrum: signal variance per principal component.

    For each shuffle, the repeats of a random half of the stimuli are swapped; principal
    components are fitted to the first repeat (half) and the signal variance of component
    ``j`` is the covariance, over stimuli, of the two repeats' projections on it. Results
    are averaged over shuffles. The computation equals the published code of Stringer et
    al. (2019) with an exact (full) SVD; see ``docs/spectra-estimators.md``.

    Parameters
    ----------
    responses : xarray.Dataset, xarray.DataArray or array-like
        A stimulus recording, a DataArray with dims (``repeat``, ``stimulus``, ``neuron``)
        (numpy- or dask-backed), or an array in that order (numpy, dask, h5py, zarr).
        With more than two repeats, the first ``R // 2`` and the remaining repeats are
        averaged into two halves that play the roles of the two repeats.
    n_shuffles : int
        Number of random repeat swaps averaged (published: 10).
    n_components : int, optional
        Components returned. Default ``min(1024, n_stimuli, n_neurons - 1)`` as published.
    solver : {"exact", "float32"}
        ``"exact"``: float64 throughout, equal to the published computation with a full SVD
        to rounding (~1e-13). ``"float32"``: the Gram products and each shuffle's
        eigendecomposition in float32 (the projections stay float64). On CPU it is
        1.6-1.7x faster (2,800 x 10,000, 10 shuffles, 2 cores: 15.1 s against 24.4 s; the
        published code 74.6 s) and moved the exponent (published fit, ranks 12..500) by at
        most 9e-5 on the recordings measured (7e-7 at that size for alpha 1, 9e-5 for alpha 2,
        whose tail nears zero); single ranks move by up to ~1 %% where the spectrum is small
        (``docs/spectra-estimators.md``). Components below 1e-5 of the largest eigenvalue
        (float32's resolution, e.g. noiseless steep spectra) are refused as beyond the
        rank: use ``"exact"`` there. No gain on a GPU, where float64 is as fast.
    seed : int, numpy.random.Generator or None
        Seed of the swap masks; shuffle ``k`` swaps the stimuli where the ``k``-th draw of
        ``default_rng(seed).random(n_stimuli)`` exceeds 0.5.
    %(device)s
    chunk_size : int, optional
        Neurons per chunk when accumulating the Gram matrix (memory O(n_stimuli² + chunk)).
    %(progress)s
    keep_shuffles : bool
        Return every shuffle's spectrum (dims ``shuffle``, ``rank``) instead of the mean,
        e.g. for a bootstrap over shuffles.

    Returns
    -------
    xarray.DataArray
        ``signal_variance`` over ``rank`` (1-based) (or (``shuffle``, ``rank``)), float64, in
        response units² per stimulus: the published sum over stimuli divided by
        ``n_stimuli``. Coord ``noise_variance`` (same dims): per-stimulus variance of the
        difference between the halves' projections, halved, i.e. the variance of one half's
        noise along the component. Attrs ``method``, ``n_stimuli``, ``n_neurons``,
        ``n_repeats``, ``n_shuffles``, ``seed``, ``source``.

    Raises
    ------
    InvalidInputError
        One repeat, NaN/Inf (the message names the neuron chunk), ``n_components`` larger
        than ``min(n_stimuli, n_neurons - 1)`` or than the rank of the data, bad arguments.

    Examples
    --------
    >>> import v1ann
    >>> rec = v1ann.simulate_recording(alpha=1.0, n_stimuli=200, n_neurons=400, seed=0)
    >>> spectrum = v1ann.cvpca(rec, n_shuffles=2, seed=0, progress=False)
    >>> spectrum.name, spectrum.dims, spectrum.sizes["rank"]
    ('signal_variance', ('rank',), 200)
    """
    n_shuffles = check_int(n_shuffles, "n_shuffles")
    check_option("solver", solver, SOLVERS)
    gram = repeat_gram(responses, chunk_size=chunk_size, products=SOLVERS[solver], device=device, progress=progress)
    n_components = _n_components(n_components, gram.n_stimuli, gram.n_neurons)
    warn_if_uncentred(gram)
    masks = shuffle_masks(n_shuffles, gram.n_stimuli, seed)
    signal, noise = cvpca_from_gram(gram, masks, n_components, solver=solver, progress=progress)
    rank = np.arange(1, n_components + 1)
    attrs = {
        "method": "cvpca",
        "solver": solver,
        "n_stimuli": gram.n_stimuli,
        "n_neurons": gram.n_neurons,
        "n_repeats": gram.n_repeats,
        "n_shuffles": n_shuffles,
        "seed": seed if isinstance(seed, (int, np.integer)) else None,
        "source": gram.source,
        "units": "response^2 per stimulus",
    }
    if keep_shuffles:
        dims = ("shuffle", "rank")
        coords = {"shuffle": np.arange(n_shuffles), "rank": rank, "noise_variance": (dims, noise)}
        return xr.DataArray(signal, dims=dims, coords=coords, name="signal_variance", attrs=attrs)
    coords = {"rank": rank, "noise_variance": ("rank", noise.mean(axis=0))}
    return xr.DataArray(signal.mean(axis=0), dims=("rank",), coords=coords, name="signal_variance", attrs=attrs)


# Warn when the stimulus-constant direction carries this many times the variance of an
# average stimulus direction: zero-mean responses put about 1x there by chance.
UNCENTRED_FACTOR = 10.0


def warn_if_uncentred(gram: RepeatGram) -> None:
    """Warn when each neuron's mean over stimuli, shared by the repeats, is a real component.

    cvPCA, like the published code, centres each stimulus across neurons but does not
    centre over stimuli: the per-neuron mean responses (less their average over neurons)
    enter the spectrum along the stimulus-constant direction ``1 / sqrt(P)``, with signal
    variance ``M = 1^T A_c B_c^T 1 / P^2`` per stimulus, and shift every rank after it.
    For raw spike counts (rates on a per-neuron baseline) they also leak into the tail:
    simulated Poisson recordings read exponents near 1 whatever the truth until centred
    (docs/validation.md). For responses with zero mean over stimuli, that direction holds
    about as much variance as any other, ``tr(A_c A_c^T + B_c B_c^T) / (2 P^2)``.
    """
    p, n = gram.n_stimuli, gram.n_neurons
    full, sums = gram.gram, gram.sums
    sum_a, sum_b = sums[:p], sums[p:]
    # neuron-centred: subtract the rank-one term of each stimulus's mean over neurons
    shared_mean = float(full[:p, p:].sum() - sum_a.sum() * sum_b.sum() / n) / p**2
    per_direction = float(full.diagonal().sum() - (sums @ sums) / n) / (2 * p**2)
    if shared_mean <= UNCENTRED_FACTOR * per_direction:
        return

    warn(f"cvPCA on {gram.source}: the responses are not centred over stimuli. Each neuron's "
        f"mean response, shared by the repeats, adds a component of variance {shared_mean:.3g} "
        f"per stimulus ({shared_mean / per_direction:.3g} times an average stimulus direction) "
        "that cvPCA counts as signal, shifting the ranks after it. Subtract each neuron's mean "
        "over stimuli first (v1ann.recording.preprocessing.mean_center; v1ann fit --preprocess center).")


def shuffle_masks(n_shuffles: int, n_stimuli: int, seed=None) -> np.ndarray:
    """(n_shuffles, n_stimuli) bool: which stimuli have their two repeats swapped per shuffle."""
    return make_rng(seed).random((n_shuffles, n_stimuli)) > 0.5


def cvpca_from_gram(gram: RepeatGram, masks: np.ndarray, n_components: int, *, solver: str = "exact",
                    progress: bool = True):
    """Per-shuffle cvPCA spectra from precomputed Gram statistics.

    Parameters
    ----------
    gram : RepeatGram
        From :func:`v1ann.spectrum.gram.repeat_gram`.
    masks : ndarray of bool, (n_shuffles, n_stimuli)
        Stimuli whose halves are swapped, per shuffle.
    n_components : int
    solver : {"exact", "float32"}
        Precision of each shuffle's eigendecomposition (see :func:`cvpca`).

    Returns
    -------
    signal, noise : ndarray, (n_shuffles, n_components) float64
        Per-stimulus signal and noise variance per component (see :func:`cvpca`).
    """
    n_stimuli = gram.n_stimuli
    signal = np.empty((len(masks), n_components))
    noise = np.empty((len(masks), n_components))
    for k, mask in enumerate(progress_bar(masks, desc="cvPCA shuffles", progress=progress)):
        flip = torch.as_tensor(np.asarray(mask, dtype=bool), device=gram.gram.device)
        s, n = _one_shuffle(gram, flip, n_components, solver)
        signal[k] = s.cpu().numpy() / n_stimuli
        noise[k] = n.cpu().numpy() / n_stimuli
        release_freed_memory()
    return signal, noise


def _one_shuffle(gram: RepeatGram, flip, n_components: int, solver: str = "exact"):
    """Signal and noise sums over stimuli for one swap mask.

    With ``X0``/``X1`` the swapped halves, the published PCA is that of the neuron-centred
    ``X0`` (neurons as samples): eigenvectors ``V`` and eigenvalues ``sv²`` of
    ``C = G00 - s0 s0^T / N``. With ``W = V / sv``: ``cproj0 = G00 W = V sv + s0 (s0^T W) / N``
    and ``cproj1 = G10 W``.
    """

    full, sums, n_neurons = gram.gram, gram.sums, gram.n_neurons
    n_stimuli = flip.numel()
    stim = torch.arange(n_stimuli, device=full.device)
    row0 = stim + n_stimuli * flip  # row of the stacked Gram holding X0' for each stimulus
    row1 = stim + n_stimuli * ~flip
    s0 = sums[row0]
    cov = _gather(full, row0, row0)
    cov.addr_(s0, s0, alpha=-1.0 / n_neurons)
    # All eigenpairs (syevd), on CPU as on CUDA: syevr restricted to the top 1,024 took
    # longer than syevd with all of them on both machines measured (docs/spectra-estimators.md);
    # the tridiagonalisation they share dominates, so asking for fewer vectors saves little.
    evals, evecs = symmetric_eigh(cov.to(torch.float32) if solver == "float32" else cov, overwrite=True)
    del cov
    # Views of the top components in ascending order, flipped only as the final vectors:
    # every (n_stimuli, n_components) temporary here is tens of MB at the published size.
    evals, evecs = evals[-n_components:].to(torch.float64), evecs[:, -n_components:].to(torch.float64)
    _check_rank(evals.flip(0), n_components, 1e-5 if solver == "float32" else 1e-12)
    sv = evals.sqrt()
    weights = evecs / sv
    proj0 = evecs * sv
    proj0.addr_(s0, s0 @ weights, alpha=1.0 / n_neurons)
    del evecs
    proj1 = _gather(full, row1, row0, right=weights)
    del weights
    signal = torch.linalg.vecdot(proj0, proj1, dim=0)
    noise = 0.5 * proj0.sub_(proj1).square_().sum(dim=0)
    return signal.flip(0), noise.flip(0)


def _gather(full, rows, cols, right=None, block: int = 256):
    """``full[rows][:, cols]`` (times ``right`` if given), a block of rows at a time.

    Building it by row blocks keeps the temporaries at ``block`` rows; with ``right`` the
    ``len(rows) x len(cols)`` matrix is never formed at all.
    """

    width = len(cols) if right is None else right.shape[1]
    out = torch.empty((len(rows), width), dtype=full.dtype, device=full.device)
    for start in range(0, len(rows), block):
        part = full[rows[start : start + block, None], cols[None, :]]
        out[start : start + block] = part if right is None else part @ right
    return out


def _check_rank(evals, n_components: int, relative: float = 1e-12) -> None:
    # Components beyond the rank of the neuron-centred data have sv ~ 0; dividing by them
    # would return noise amplified by 1/sv, not a spectrum. A float32 decomposition puts
    # them near 1e-7 of the largest eigenvalue instead of 1e-16, hence its coarser threshold.
    tiny = float(evals[0]) * relative if float(evals[0]) > 0 else 1.0
    rank = int((evals > tiny).sum())
    if rank < n_components:
        raise InvalidInputError(
            f"n_components={n_components} exceeds the rank ({rank}) of the neuron-centred "
            "responses; ask for fewer components"
        )


def _n_components(n_components, n_stimuli: int, n_neurons: int) -> int:
    return check_n_components(
        n_components, min(n_stimuli, n_neurons - 1),
        f"min(n_stimuli, n_neurons - 1) for {n_stimuli} stimuli, {n_neurons} neurons",
        default=PUBLISHED_MAX_COMPONENTS,
    )

