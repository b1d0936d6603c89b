"""Simulated recordings with a known power-law signal spectrum: the ground truth.

Model (all repeats share the signal; noise is drawn afresh for every trial)::

    signal  S = sqrt(n_stimuli) * U diag(sqrt(lambda)) R_signal^T   (n_stimuli, n_neurons)
    trial   x = S[stimulus] + noise

``U`` has random orthonormal columns orthogonal to the all-ones vector (every signal
dimension has zero mean over stimuli) and ``R_signal`` is a random rotation of neuron
space, so the covariance of the signal over stimuli, ``S.T @ S / n_stimuli``, has
eigenvalues exactly ``lambda_n = c * n**-alpha`` (n = 1..K, K = min(n_stimuli - 1,
n_neurons)) -- not only in expectation. ``c`` makes the signal variance average 1 per
neuron (``sum(lambda) = n_neurons``).

Both random rotations are fast structured orthogonal transforms (a random permutation,
then random signs and an orthonormal DCT, twice): O(n log n) per vector instead of the
O(n^3) of a QR-drawn dense rotation, and exactly orthogonal. This is what lets a
2,800 x 10,000 x 2 recording take seconds rather than the ~20 s of one 2,800 x 2,800 QR.

Memory: the result holds ``(n_repeats * (n_stimuli + n_blanks) + n_spont) * n_neurons``
float32 values (224 MB for 2 x 2,800 x 10,000); while simulating, the signal and one
repeat's noise draw add two ``n_stimuli * n_neurons`` float32 arrays (another 224 MB at
that size; ``"poisson"`` holds its rates in float64, 224 MB more).
"""

from __future__ import annotations

import numpy as np
import scipy.fft

from v1ann._checks import check_memory, check_option
from v1ann._utils import make_rng
from v1ann.errors import InvalidInputError
from v1ann.recording.schema import make_recording, make_spontaneous_recording

__all__ = ["simulate_recording", "simulate_spontaneous", "power_law_spectrum", "NOISE_MODELS"]

NOISE_MODELS = ("gaussian", "poisson", "multiplicative")
STIMULUS_SHAPE = (68, 270)  # Stringer's natimg2800 images: 68 × 270 pixels, grey


def power_law_spectrum(alpha: float, n: int, total: float = 1.0) -> np.ndarray:
    """``total * n**-alpha / sum(n**-alpha)`` over ranks 1..n (float64, shape (n,))."""
    ranks = np.arange(1, n + 1, dtype=float)
    values = ranks ** (-float(alpha))
    return values * (total / values.sum())


class _Rotation:
    """A random orthogonal map ``R = C D2 C D1 P`` of R^n, O(n log n) per vector.

    ``P`` is a random permutation, ``D1``, ``D2`` random sign flips and ``C`` the
    orthonormal DCT-II: every factor is orthogonal, so ``R`` is exactly orthogonal, and
    two rounds spread every basis vector over all coordinates. Callers apply ``P``
    themselves (by placing entries at ``perm``), which is free, then call :meth:`mix`.
    """

    def __init__(self, n: int, rng: np.random.Generator):
        self.perm = rng.permutation(n)
        self.signs = rng.choice(np.array([-1.0, 1.0], dtype=np.float32), size=(2, n))

    def mix(self, x: np.ndarray, axis: int) -> np.ndarray:
        """``C D2 C D1`` applied along ``axis`` of float32 ``x``; overwrites ``x``."""
        shape = [1, 1]
        shape[axis] = -1
        for signs in self.signs:
            x *= signs.reshape(shape)
            x = scipy.fft.dct(x, norm="ortho", axis=axis, overwrite_x=True, workers=-1)
        return x


def _signal(n_stimuli: int, n_neurons: int, spectrum: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """(n_stimuli, n_neurons) float32 ``sqrt(n_stimuli) U diag(sqrt(spectrum)) V^T``.

    ``V`` (n_neurons, rank) holds columns of a random rotation of neuron space. ``U`` =
    ``H [0; W]``: columns of a random rotation ``W`` of R^(n_stimuli - 1) below a zero
    row, then the Householder reflection ``H`` mapping e_0 onto the unit all-ones vector,
    so every column of ``U`` is orthogonal to the ones vector (zero mean over stimuli)
    and the columns stay exactly orthonormal.
    """
    rank = spectrum.size
    neuron_rot, stimulus_rot = _Rotation(n_neurons, rng), _Rotation(n_stimuli - 1, rng)
    inner = np.zeros((n_stimuli - 1, n_neurons), dtype=np.float32)
    inner[stimulus_rot.perm[:rank], neuron_rot.perm[:rank]] = np.sqrt(n_stimuli * spectrum)
    inner = neuron_rot.mix(inner, axis=1)
    inner = stimulus_rot.mix(inner, axis=0)
    signal = np.empty((n_stimuli, n_neurons), dtype=np.float32)
    signal[0] = 0.0
    signal[1:] = inner
    del inner
    v = np.full(n_stimuli, -1.0 / np.sqrt(n_stimuli))
    v[0] += 1.0
    v = (v / np.linalg.norm(v)).astype(np.float32)
    signal -= v[:, None] * (2.0 * (v @ signal))[None, :]
    return signal


def _correlated_noise(
    n_rows: int, spectrum: np.ndarray, rotation: _Rotation, rng: np.random.Generator
) -> np.ndarray:
    """(n_rows, n_neurons) Gaussian rows, independent, with covariance R diag(spectrum) R^T."""
    noise = rng.standard_normal((n_rows, spectrum.size), dtype=np.float32)
    noise *= np.sqrt(spectrum[np.argsort(rotation.perm)]).astype(np.float32)
    return rotation.mix(noise, axis=1)


def _is_real(value) -> bool:
    return isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool) and np.isfinite(value)


def _is_count(value, least: int) -> bool:
    return _is_real(value) and float(value).is_integer() and value >= least


def _check_args(alpha, n_stimuli, n_neurons, n_repeats, noise_scale, noise_alpha, noise, n_blanks, n_spont):
    if not _is_real(alpha) or alpha <= 0:
        raise InvalidInputError(f"alpha must be a positive finite number, got {alpha!r}")
    for name, value, least in (
        ("n_stimuli", n_stimuli, 2),
        ("n_neurons", n_neurons, 1),
        ("n_repeats", n_repeats, 1),
        ("n_blanks", n_blanks, 0),
        ("n_spont", n_spont, 0),
    ):
        if not _is_count(value, least):
            raise InvalidInputError(f"{name} must be an integer >= {least}, got {value!r}")
    for name, value in (("noise_scale", noise_scale), ("noise_alpha", noise_alpha)):
        if not _is_real(value) or value < 0:
            raise InvalidInputError(f"{name} must be a finite number >= 0, got {value!r}")
    check_option("noise", noise, NOISE_MODELS)
    if noise == "poisson" and noise_scale == 0:
        raise InvalidInputError("noise='poisson' needs noise_scale > 0 (it sets the rate scale)")


def simulate_recording(
    alpha: float,
    *,
    n_stimuli: int = 2800,
    n_neurons: int = 10000,
    n_repeats: int = 2,
    noise_scale: float = 1.0,
    noise_alpha: float = 0.6,
    noise: str = "gaussian",
    seed=None,
    noise_seed=None,
    n_blanks: int = 0,
    n_spont: int = 0,
):
    """Simulate a stimulus recording whose signal spectrum is exactly a power law.

    Parameters
    ----------
    alpha : float
        Exponent of the signal spectrum: the eigenvalues of the signal's covariance over
        stimuli are ``c * n**-alpha``, n = 1..min(n_stimuli - 1, n_neurons).
    n_stimuli, n_neurons, n_repeats : int
        Recording size; every stimulus is shown ``n_repeats`` times.
    noise_scale : float
        Total noise variance / total signal variance (both summed over neurons); 0 gives
        noiseless repeats.
    noise_alpha : float
        Exponent of the noise covariance spectrum over neurons (ranks 1..n_neurons). Noise
        is independent across trials. Unused by ``"poisson"``.
    noise : {"gaussian", "poisson", "multiplicative"}
        ``"gaussian"``: ``S + e`` with ``e`` Gaussian with the noise spectrum.
        ``"poisson"``: spike counts ``Poisson(g * (S + b))``, ``b`` the per-neuron offset
        making the lowest rate 0 and ``g`` chosen so the Poisson variance is
        ``noise_scale`` times the signal variance; the signal (and
        ``true_signal_spectrum``) is ``g * S``.
        ``"multiplicative"``: ``S * (1 + e)``, ``e`` Gaussian with the noise spectrum and
        variance ``noise_scale`` per neuron, so the noise variance is again
        ``noise_scale`` times the signal variance (in expectation).
    seed : int, numpy Generator or None
        Everything is drawn from this one generator, unless ``noise_seed`` is given.
    noise_seed : int, numpy Generator or None
        If given, the trial-to-trial noise (and spontaneous activity) is drawn from this
        generator instead, while ``seed`` still draws the signal and the noise covariance:
        the same recording with fresh noise, for calibrating what noise alone does to an
        estimate.
    n_blanks : int
        Grey-screen trials appended per repeat (stimulus id ``n_stimuli``): the noise draw
        alone (``"gaussian"``, ``"multiplicative"``) or counts at the baseline rate
        ``g * b`` (``"poisson"``).
    n_spont : int
        Time points of spontaneous activity, stored as ``spont``; drawn like blank trials.

    Returns
    -------
    xarray.Dataset
        Recording schema. Trials are ordered repeat by repeat (stimulus 0..n-1, then
        blanks), so ``stimulus_responses(ds)`` equals the simulated (repeat, stimulus,
        neuron) array. Adds ``true_signal_spectrum`` (dim ``rank``, 1-based) and attrs
        ``true_alpha``, ``noise_scale``, ``noise_alpha``, ``noise``, ``seed``,
        ``source="simulated"``, ``stimulus_set="simulated"``.

    Examples
    --------
    >>> import v1ann
    >>> rec = v1ann.simulate_recording(alpha=1.0, n_stimuli=200, n_neurons=400, seed=0)
    >>> rec.attrs["true_alpha"], rec.sizes["trial"], rec.sizes["neuron"]
    (1.0, 400, 400)
    """
    # One function on purpose: the order of the draws below is the seeded contract (a seed gives
    # the same recording in every version), which splitting it would make easy to break.
    _check_args(alpha, n_stimuli, n_neurons, n_repeats, noise_scale, noise_alpha, noise, n_blanks, n_spont)
    n_stimuli, n_neurons, n_repeats, n_blanks, n_spont = map(int, (n_stimuli, n_neurons, n_repeats, n_blanks, n_spont))
    # float64 signal and noise of every trial, the float32 recording, and the spontaneous block
    check_memory(8 * n_neurons * ((2 * n_repeats + 1) * n_stimuli + n_blanks + n_spont), "simulate_recording")
    rng = make_rng(seed)
    rank = min(n_stimuli - 1, n_neurons)
    spectrum = power_law_spectrum(alpha, rank, total=float(n_neurons))

    signal = _signal(n_stimuli, n_neurons, spectrum, rng)

    noise_spectrum = power_law_spectrum(noise_alpha, n_neurons, total=float(noise_scale) * spectrum.sum())
    noise_rotation = _Rotation(n_neurons, rng)
    if noise_seed is not None:
        rng = make_rng(noise_seed)
    n_per_repeat = n_stimuli + n_blanks
    trials = np.empty((n_repeats * n_per_repeat, n_neurons), dtype=np.float32)
    true_spectrum = spectrum
    if noise == "poisson":
        offset = -signal.min(axis=0)
        mean_rate = float((signal.mean(axis=0) + offset).sum())
        gain = mean_rate / (noise_scale * float(spectrum.sum()))
        rates = gain * (signal + offset)
        blank_rates = np.broadcast_to(gain * offset, (n_blanks, n_neurons))
        rates = np.concatenate([rates, blank_rates]).astype(np.float64)
        for r in range(n_repeats):
            trials[r * n_per_repeat : (r + 1) * n_per_repeat] = rng.poisson(rates)
        spont = rng.poisson(np.broadcast_to(gain * offset, (n_spont, n_neurons))).astype(np.float32)
        true_spectrum = spectrum * gain**2
    else:
        # The signal variance sums to n_neurons, so the draw has variance noise_scale per
        # neuron on average: as a multiplicative factor its expected noise power,
        # sum(S**2 * var(e)), is again noise_scale times the signal power.
        for r in range(n_repeats):
            block = trials[r * n_per_repeat : (r + 1) * n_per_repeat]
            draw = _correlated_noise(n_per_repeat, noise_spectrum, noise_rotation, rng)
            if noise == "gaussian":
                block[:n_stimuli] = signal + draw[:n_stimuli]
            else:
                block[:n_stimuli] = signal * (1.0 + draw[:n_stimuli])
            block[n_stimuli:] = draw[n_stimuli:]
            del draw
        spont = _correlated_noise(n_spont, noise_spectrum, noise_rotation, rng)
    del signal

    stimulus = np.tile(np.arange(n_per_repeat), n_repeats)
    stimulus = np.minimum(stimulus, n_stimuli)
    ds = make_recording(
        trials,
        stimulus,
        n_stimuli=n_stimuli,
        spont=spont if n_spont else None,
        attrs={
            "source": "simulated",
            "stimulus_set": "simulated",
            "true_alpha": float(alpha),
            "noise_scale": float(noise_scale),
            "noise_alpha": float(noise_alpha),
            "noise": noise,
            "seed": int(seed) if isinstance(seed, (int, np.integer)) else None,
            "noise_seed": int(noise_seed) if isinstance(noise_seed, (int, np.integer)) else None,
        },
        drop_bad_neurons=False,
    )
    ds["true_signal_spectrum"] = ("rank", true_spectrum)
    ds = ds.assign_coords(rank=np.arange(1, rank + 1))
    return ds


def simulate_spontaneous(
    alpha: float,
    *,
    n_time: int = 4000,
    n_neurons: int = 2000,
    n_shared: int | None = None,
    noise_scale: float = 1.0,
    field_um: float = 1000.0,
    seed=None,
):
    """Simulate spontaneous activity: a shared signal whose spectrum is exactly a power law,
    plus private noise. The ground truth of :func:`v1ann.svca`.

    Model::

        activity = sqrt(n_time) U diag(sqrt(lambda)) V^T + private noise   (n_time, n_neurons)

    with ``U``, ``V`` random orthonormal columns (``U`` orthogonal to the ones vector), so
    the covariance over time of the shared part has eigenvalues exactly ``lambda_n = c n**-alpha``
    (n = 1..n_shared, ``sum(lambda) = n_neurons``), and private noise independent across
    neurons and time, of variance ``noise_scale`` in every neuron (so ``noise_scale`` is
    total noise / total shared variance, as in :func:`simulate_recording`).

    Parameters
    ----------
    alpha : float
        Exponent of the shared spectrum.
    n_time, n_neurons : int
        Size of the recording.
    n_shared : int, optional
        Dimensions of the shared signal (default ``min(n_time - 1, n_neurons)``).
    noise_scale : float
        Private noise variance per neuron / mean shared variance per neuron (0: none).
    field_um : float
        Neurons sit uniformly at random in a square of this side (µm), so
        :func:`v1ann.svca` splits them on its checkerboard as in real recordings.
    seed : int, Generator or None

    Returns
    -------
    xarray.Dataset
        A spontaneous recording (:func:`v1ann.recording.make_spontaneous_recording`):
        ``activity`` (``time``, ``neuron``) float32 with ``x``, ``y``; ``true_shared_spectrum``
        over ``rank``; attrs ``true_alpha``, ``noise_scale``, ``seed``.

    Examples
    --------
    >>> rec = simulate_spontaneous(1.0, n_time=400, n_neurons=300, seed=0)
    >>> rec["activity"].dims, rec.attrs["true_alpha"]
    (('time', 'neuron'), 1.0)
    """
    for name, value, least in (("n_time", n_time, 4), ("n_neurons", n_neurons, 4)):
        if not _is_count(value, least):
            raise InvalidInputError(f"{name} must be an integer >= {least}, got {value!r}")
    n_time, n_neurons = int(n_time), int(n_neurons)
    limit = min(n_time - 1, n_neurons)
    n_shared = limit if n_shared is None else n_shared
    if not _is_count(n_shared, 1) or n_shared > limit:
        raise InvalidInputError(f"n_shared must be an integer in 1..{limit} (min(n_time - 1, n_neurons)), got {n_shared!r}")
    if not _is_real(alpha) or not _is_real(noise_scale) or noise_scale < 0 or not _is_real(field_um) or field_um <= 0:
        raise InvalidInputError(
            f"alpha and field_um must be finite (field_um > 0) and noise_scale >= 0; got alpha={alpha!r}, "
            f"noise_scale={noise_scale!r}, field_um={field_um!r}"
        )
    check_memory(12 * n_time * n_neurons, "simulate_spontaneous")
    rng = make_rng(seed)
    spectrum = power_law_spectrum(alpha, int(n_shared), total=float(n_neurons))
    activity = _signal(n_time, n_neurons, spectrum, rng)
    if noise_scale > 0:
        activity += np.float32(np.sqrt(noise_scale)) * rng.standard_normal(activity.shape, dtype=np.float32)
    positions = rng.uniform(0, float(field_um), size=(n_neurons, 2))
    ds = make_spontaneous_recording(
        activity, positions=positions, source="simulated",
        attrs={"source": "simulated", "true_alpha": float(alpha), "noise_scale": float(noise_scale),
               "seed": int(seed) if isinstance(seed, (int, np.integer)) else None},
    )
    ds["true_shared_spectrum"] = ("rank", spectrum)
    return ds.assign_coords(rank=np.arange(1, spectrum.size + 1))


def natural_like_images(n: int, *, shape: tuple[int, int] = STIMULUS_SHAPE, seed=None) -> np.ndarray:
    """Grey images with the 1/f amplitude spectrum of natural scenes.

    A stand-in for Stringer's natural images when the real set
    (``images_natimg2800_all.mat``) is not at hand: random phases, amplitude
    ``1 / spatial frequency``, so the images carry the scale-free second-order statistics
    of natural images (but none of their edges or objects).

    Parameters
    ----------
    n : int
        Number of images.
    shape : (height, width)
        Pixels; default 68 × 270 as in the natimg2800 set.
    seed : int, Generator or None

    Returns
    -------
    numpy.ndarray
        uint8, shape ``(n, height, width)``, the full 0..255 range used.
    """
    rng = make_rng(seed)
    height, width = shape
    fy = np.fft.fftfreq(height)[:, None]
    fx = np.fft.rfftfreq(width)[None, :]
    freq = np.hypot(fy, fx)
    freq[0, 0] = np.inf  # no DC term: every image has mean zero before scaling
    amplitude = 1.0 / freq
    spectrum = amplitude * np.exp(2j * np.pi * rng.random((n, height, fx.shape[1])))
    pixels = np.fft.irfft2(spectrum, s=shape, axes=(1, 2))
    lo = pixels.min(axis=(1, 2), keepdims=True)
    hi = pixels.max(axis=(1, 2), keepdims=True)
    return np.round(255 * (pixels - lo) / (hi - lo)).astype(np.uint8)
