"""Simulated recordings with a known signal spectrum: the ground truth.

Model (all repeats share the signal; noise is drawn afresh for every trial)::

    signal  S = sqrt(n_stimuli) * U diag(sqrt(lambda)) R_signal^T   (n_stimuli, n_neurons)
    trial   x = S[stimulus] + noise

``U`` has random orthonormal columns orthogonal to the all-ones vector (every signal
dimension has zero mean over stimuli) and ``R_signal`` is a random rotation of neuron
space, so the covariance of the signal over stimuli, ``S.T @ S / n_stimuli``, has
eigenvalues exactly ``lambda_n = c * n**-alpha`` (n = 1..K, K = min(n_stimuli - 1,
n_neurons)) -- not only in expectation -- or exactly any other spectrum given (a broken
power law, a bent tail). ``c`` makes the signal variance average 1 per neuron
(``sum(lambda) = n_neurons``). With ``stimuli="sampled"`` (the design of Pospisil &
Pillow 2025) the stimuli are instead i.i.d. Gaussian draws from a population whose
covariance has the spectrum, over all n_neurons ranks.

The truth every estimator is scored against (``attrs["true_alpha"]``) is the estimand of
v1ann: the published weighted log-log fit of the true signal spectrum over the default
fit range (:func:`true_alpha`). For a power law it is the exponent itself; for any other
shape it is what the published fit would give with infinitely many noiseless trials.

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
import scipy.signal

from v1ann._checks import check_memory, check_option
from v1ann._loglog import DEFAULT_FIT_RANGE, clip_fit_range, wls_loglog
from v1ann._utils import make_rng
from v1ann.errors import InvalidInputError
from v1ann.recording.schema import make_recording, make_spontaneous_recording

__all__ = [
    "simulate_recording", "simulate_spontaneous", "power_law_spectrum", "broken_power_law_spectrum", "true_alpha",
    "NOISE_MODELS",
]

NOISE_MODELS = ("gaussian", "poisson", "modulated-poisson", "multiplicative")
STIMULUS_DESIGNS = ("fixed", "sampled")
STIMULUS_SHAPE = (68, 270)  # Stringer's natimg2800 images: 68 × 270 pixels, grey


def power_law_spectrum(alpha: float, n: int, total: float = 1.0) -> np.ndarray:
    """``total * n**-alpha / sum(n**-alpha)`` over ranks 1..n (float64, shape (n,))."""
    ranks = np.arange(1, n + 1, dtype=float)
    values = ranks ** (-float(alpha))
    return values * (total / values.sum())


def broken_power_law_spectrum(alphas, breaks, n: int, total: float = 1.0) -> np.ndarray:
    """A continuous broken power law over ranks 1..n, scaled to sum to ``total``.

    Ranks up to ``breaks[0]`` fall as ``n**-alphas[0]``, ranks after it up to
    ``breaks[1]`` as ``n**-alphas[1]``, and so on; the pieces meet at the breaks (as
    the broken power laws of Pospisil & Pillow 2025). A break past ``n`` is a tail
    that bends beyond the ranks simulated.

    >>> s = broken_power_law_spectrum([0.5, 1.2], [16], 1000)
    >>> round(float(np.log(s[15] / s[31]) / np.log(32 / 16)), 3)  # the tail's slope
    1.2
    """
    alphas = [float(a) for a in np.atleast_1d(alphas)]
    breaks = [float(b) for b in np.atleast_1d(breaks)] if np.size(breaks) else []
    if len(alphas) != len(breaks) + 1 or not all(np.isfinite(alphas)) or any(a < 0 for a in alphas):
        raise InvalidInputError(
            f"a broken power law needs one finite exponent >= 0 more than breaks; got alphas={alphas}, breaks={breaks}"
        )
    if any(b < 1 for b in breaks) or any(b2 <= b1 for b1, b2 in zip(breaks, breaks[1:])):
        raise InvalidInputError(f"breaks must be increasing ranks >= 1, got {breaks}")
    log_rank = np.log(np.arange(1, int(n) + 1, dtype=float))
    log_values = -alphas[0] * log_rank
    for alpha_before, alpha_after, rank in zip(alphas, alphas[1:], breaks):
        after = log_rank > np.log(rank)
        log_values[after] -= (alpha_after - alpha_before) * (log_rank[after] - np.log(rank))
    values = np.exp(log_values - log_values.max())
    return values * (total / values.sum())


def true_alpha(spectrum, fit_range=DEFAULT_FIT_RANGE) -> float:
    """The estimand: the published weighted log-log fit of a true signal spectrum.

    ``spectrum`` holds the eigenvalues of the stimulus covariance of the expected
    response, rank 1 first (``rec["true_signal_spectrum"]`` of a simulated recording).
    The fit runs over ``fit_range`` (clipped to the ranks there are), weights ``1/rank``.
    For ``c n**-alpha`` it returns ``alpha`` whatever the range; for other shapes it
    depends on the range, which is why estimators are scored against it rather than
    against a model parameter.

    >>> head = broken_power_law_spectrum([0.5, 1.2], [16], 2000)  # a flatter head, as in V1
    >>> round(true_alpha(head), 3), round(true_alpha(head, (11, 125)), 3)
    (1.185, 1.164)
    """
    values = np.asarray(spectrum, dtype=np.float64)
    lo, hi = clip_fit_range(fit_range, values.size)
    return wls_loglog(values, lo, hi)[0]


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


def sampled_signal(n_stimuli: int, spectrum: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """(n_stimuli, n_neurons) float32 i.i.d. Gaussian rows with covariance ``R diag(spectrum) R^T``,
    ``R`` a random rotation: the signal of ``stimuli="sampled"`` alone, without a recording around it."""
    rotation = _Rotation(spectrum.size, rng)
    return _correlated_noise(n_stimuli, spectrum, rotation, rng)


def _shown_spectrum(signal: np.ndarray) -> np.ndarray:
    """Eigenvalues of the covariance of ``signal`` over the stimuli drawn (positive ones, descending)."""
    centred = signal.astype(np.float64) - signal.mean(axis=0, dtype=np.float64)
    values = np.linalg.eigvalsh(centred @ centred.T / signal.shape[0])[::-1]
    return values[values > values[0] * 1e-12]


def _correlated_noise(
    n_rows: int, spectrum: np.ndarray, rotation: _Rotation, rng: np.random.Generator
) -> np.ndarray:
    """(n_rows, n_neurons) Gaussian rows, independent, with covariance R diag(spectrum) R^T."""
    noise = rng.standard_normal((n_rows, spectrum.size), dtype=np.float32)
    noise *= np.sqrt(spectrum[np.argsort(rotation.perm)]).astype(np.float32)
    return rotation.mix(noise, axis=1)


def _trial_gain(n_trials: int, sd: float, rng: np.random.Generator) -> np.ndarray:
    """(n_trials, 1) Gamma gains of mean 1 and standard deviation ``sd`` (1 where sd is 0)."""
    if sd == 0:
        return np.ones((n_trials, 1))
    shape = 1.0 / sd**2
    return rng.gamma(shape, 1.0 / shape, size=(n_trials, 1))


def _is_real(value) -> bool:
    return isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool) and np.isfinite(value)


def _is_count(value, least: int) -> bool:
    return _is_real(value) and float(value).is_integer() and value >= least


def _check_args(alpha, n_stimuli, n_neurons, n_repeats, noise_scale, noise_alpha, noise, n_blanks, n_spont,
                spectrum, gain_sd, noise_spread, stimuli):
    if (alpha is None) == (spectrum is None):
        raise InvalidInputError("give either alpha (a power law) or spectrum (any shape), not both or neither")
    if alpha is not None and (not _is_real(alpha) or alpha <= 0):
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
    for name, value in (("noise_scale", noise_scale), ("noise_alpha", noise_alpha), ("gain_sd", gain_sd),
                        ("noise_spread", noise_spread)):
        if not _is_real(value) or value < 0:
            raise InvalidInputError(f"{name} must be a finite number >= 0, got {value!r}")
    check_option("noise", noise, NOISE_MODELS)
    check_option("stimuli", stimuli, STIMULUS_DESIGNS)
    if noise in ("poisson", "modulated-poisson") and noise_scale == 0:
        raise InvalidInputError(f"noise={noise!r} needs noise_scale > 0 (it sets the rate scale)")
    if noise_spread > 0 and noise not in ("gaussian", "multiplicative"):
        raise InvalidInputError(f"noise_spread applies to 'gaussian' and 'multiplicative' noise, not {noise!r}")


def _signal_spectrum(alpha, spectrum, rank: int, total: float) -> np.ndarray:
    """The true signal spectrum over ranks 1..rank, summing to ``total``."""
    if spectrum is None:
        return power_law_spectrum(alpha, rank, total=total)
    values = np.asarray(spectrum, dtype=np.float64)
    if values.ndim != 1 or values.size < rank or not np.all(np.isfinite(values[:rank])) or np.any(values[:rank] <= 0):
        raise InvalidInputError(
            f"spectrum must be 1-D with at least {rank} finite positive values (ranks 1..{rank}), got shape "
            f"{values.shape}"
        )
    values = values[:rank]
    return values * (total / values.sum())


def _neuron_noise_scale(n_neurons: int, spread: float, rng: np.random.Generator) -> np.ndarray:
    """Per-neuron noise amplitudes, log-normal with sd ``spread``, mean square 1."""
    scale = np.exp(spread * rng.standard_normal(n_neurons))
    return (scale / np.sqrt(np.mean(scale**2))).astype(np.float32)


def simulate_recording(
    alpha: float | None = None,
    *,
    spectrum=None,
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
    gain_sd: float = 0.5,
    noise_spread: float = 0.0,
    stimuli: str = "fixed",
):
    """Simulate a stimulus recording whose signal spectrum is known exactly.

    Parameters
    ----------
    alpha : float, optional
        Exponent of a power-law signal spectrum: the eigenvalues of the signal's
        covariance over stimuli are ``c * n**-alpha``, n = 1..min(n_stimuli - 1, n_neurons).
    spectrum : array-like, optional
        Instead of ``alpha``, any signal spectrum (rank 1 first, at least as many positive
        values as ranks simulated; rescaled to sum to ``n_neurons``), e.g.
        :func:`broken_power_law_spectrum`.
    n_stimuli, n_neurons, n_repeats : int
        Recording size; every stimulus is shown ``n_repeats`` times.
    noise_scale : float
        Total noise variance / total signal variance (both summed over neurons); 0 gives
        noiseless repeats.
    noise_alpha : float
        Exponent of the noise covariance spectrum over neurons (ranks 1..n_neurons). Noise
        is independent across trials. Unused by ``"poisson"``.
    noise : {"gaussian", "poisson", "modulated-poisson", "multiplicative"}
        ``"gaussian"``: ``S + e`` with ``e`` Gaussian with the noise spectrum.
        ``"poisson"``: spike counts ``Poisson(g * (S + b))``, ``b`` the per-neuron offset
        making the lowest rate 0 and ``g`` chosen so the Poisson variance is
        ``noise_scale`` times the signal variance; the signal (and
        ``true_signal_spectrum``) is ``g * S``.
        ``"modulated-poisson"``: as ``"poisson"`` with every trial's rates multiplied by
        one gain shared by all neurons, Gamma-distributed with mean 1 and standard
        deviation ``gain_sd`` (Goris et al. 2014); the expected response, hence the
        signal, is unchanged, and the gain adds noise correlated across neurons and
        growing with the response.
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
    gain_sd : float
        Standard deviation of the trial gain of ``"modulated-poisson"``.
    noise_spread : float
        Heteroscedastic neurons: every neuron's noise amplitude is multiplied by a
        log-normal factor with this log-standard deviation (mean square 1, so the total
        noise is unchanged). ``"gaussian"`` and ``"multiplicative"`` noise only.
    stimuli : {"fixed", "sampled"}
        ``"fixed"``: the shown stimuli's signal covariance has the spectrum exactly.
        ``"sampled"``: the stimuli are i.i.d. Gaussian draws from a population whose
        covariance has the spectrum over ranks 1..n_neurons (the design of Pospisil &
        Pillow 2025); ``true_signal_spectrum`` and ``true_alpha`` are then the
        population's, and ``shown_alpha`` is the same fit of the spectrum of the stimuli
        actually drawn (what ``"fixed"`` would call the truth).

    Returns
    -------
    xarray.Dataset
        Recording schema. Trials are ordered repeat by repeat (stimulus 0..n-1, then
        blanks), so ``stimulus_responses(ds)`` equals the simulated (repeat, stimulus,
        neuron) array. Adds ``true_signal_spectrum`` (dim ``rank``, 1-based) and attrs
        ``true_alpha`` (the estimand: :func:`true_alpha` of that spectrum over the
        default fit range, recorded in ``true_alpha_fit_range``), ``noise_scale``,
        ``noise_alpha``, ``noise``, ``gain_sd``, ``noise_spread``, ``stimuli``,
        ``seed``, ``source="simulated"``, ``stimulus_set="simulated"``.

    Examples
    --------
    >>> import v1ann
    >>> rec = v1ann.simulate_recording(alpha=1.0, n_stimuli=200, n_neurons=400, seed=0)
    >>> rec.attrs["true_alpha"], rec.sizes["trial"], rec.sizes["neuron"]
    (1.0, 400, 400)
    """
    # One function on purpose: the order of the draws below is the seeded contract (a seed gives
    # the same recording in every version), which splitting it would make easy to break.
    _check_args(alpha, n_stimuli, n_neurons, n_repeats, noise_scale, noise_alpha, noise, n_blanks, n_spont,
                spectrum, gain_sd, noise_spread, stimuli)
    n_stimuli, n_neurons, n_repeats, n_blanks, n_spont = map(int, (n_stimuli, n_neurons, n_repeats, n_blanks, n_spont))
    # float64 signal and noise of every trial, the float32 recording, and the spontaneous block
    check_memory(8 * n_neurons * ((2 * n_repeats + 1) * n_stimuli + n_blanks + n_spont), "simulate_recording")
    rng = make_rng(seed)
    rank = min(n_stimuli - 1, n_neurons) if stimuli == "fixed" else n_neurons
    spectrum = _signal_spectrum(alpha, spectrum, rank, float(n_neurons))
    estimand_range = clip_fit_range(DEFAULT_FIT_RANGE, rank) if rank - DEFAULT_FIT_RANGE[0] >= 2 else None

    shown_alpha = None
    if stimuli == "fixed":
        signal = _signal(n_stimuli, n_neurons, spectrum, rng)
    else:
        signal = sampled_signal(n_stimuli, spectrum, rng)
        shown = _shown_spectrum(signal)
        if shown.size - DEFAULT_FIT_RANGE[0] >= 2:
            shown_alpha = true_alpha(shown)

    noise_spectrum = power_law_spectrum(noise_alpha, n_neurons, total=float(noise_scale) * spectrum.sum())
    noise_rotation = _Rotation(n_neurons, rng)
    # drawn only when asked for, so that every other seeded recording stays the same
    neuron_scale = _neuron_noise_scale(n_neurons, noise_spread, rng) if noise_spread > 0 else None
    if noise_seed is not None:
        rng = make_rng(noise_seed)
    n_per_repeat = n_stimuli + n_blanks
    trials = np.empty((n_repeats * n_per_repeat, n_neurons), dtype=np.float32)
    true_spectrum = spectrum
    if noise in ("poisson", "modulated-poisson"):
        offset = -signal.min(axis=0)
        mean_rate = float((signal.mean(axis=0) + offset).sum())
        gain = mean_rate / (noise_scale * float(spectrum.sum()))
        rates = gain * (signal + offset)
        blank_rates = np.broadcast_to(gain * offset, (n_blanks, n_neurons))
        rates = np.concatenate([rates, blank_rates]).astype(np.float64)
        for r in range(n_repeats):
            if noise == "poisson":
                trials[r * n_per_repeat : (r + 1) * n_per_repeat] = rng.poisson(rates)
            else:
                trials[r * n_per_repeat : (r + 1) * n_per_repeat] = rng.poisson(_trial_gain(n_per_repeat, gain_sd, rng) * rates)
        spont_rates = np.broadcast_to(gain * offset, (n_spont, n_neurons))
        if noise == "modulated-poisson":
            spont_rates = _trial_gain(n_spont, gain_sd, rng) * spont_rates
        spont = rng.poisson(spont_rates).astype(np.float32)
        true_spectrum = spectrum * gain**2
    else:
        # The signal variance sums to n_neurons, so the draw has variance noise_scale per
        # neuron on average: as a multiplicative factor its expected noise power,
        # sum(S**2 * var(e)), is again noise_scale times the signal power.
        for r in range(n_repeats):
            block = trials[r * n_per_repeat : (r + 1) * n_per_repeat]
            draw = _correlated_noise(n_per_repeat, noise_spectrum, noise_rotation, rng)
            if neuron_scale is not None:
                draw *= neuron_scale
            if noise == "gaussian":
                block[:n_stimuli] = signal + draw[:n_stimuli]
            else:
                block[:n_stimuli] = signal * (1.0 + draw[:n_stimuli])
            block[n_stimuli:] = draw[n_stimuli:]
            del draw
        spont = _correlated_noise(n_spont, noise_spectrum, noise_rotation, rng)
        if neuron_scale is not None:
            spont *= neuron_scale
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
            # a power law's estimand is its exponent exactly, over any range
            "true_alpha": float(alpha) if alpha is not None else (
                true_alpha(spectrum, estimand_range) if estimand_range else float("nan")),
            "true_alpha_fit_range": list(estimand_range) if estimand_range else None,
            "shown_alpha": shown_alpha,
            "noise_scale": float(noise_scale),
            "noise_alpha": float(noise_alpha),
            "noise": noise,
            "gain_sd": float(gain_sd),
            "noise_spread": float(noise_spread),
            "stimuli": stimuli,
            "seed": int(seed) if isinstance(seed, (int, np.integer)) else None,
            "noise_seed": int(noise_seed) if isinstance(noise_seed, (int, np.integer)) else None,
        },
        drop_bad_neurons=False,
    )
    ds["true_signal_spectrum"] = ("rank", true_spectrum)
    ds = ds.assign_coords(rank=np.arange(1, rank + 1))
    return ds


def simulate_spontaneous(
    alpha: float | None = None,
    *,
    spectrum=None,
    n_time: int = 4000,
    n_neurons: int = 2000,
    n_shared: int | None = None,
    noise_scale: float = 1.0,
    noise_spread: float = 0.0,
    time_courses: str = "exact",
    timescale: float = 0.0,
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
    alpha : float, optional
        Exponent of the shared spectrum (or give ``spectrum``).
    spectrum : array-like, optional
        The shared spectrum itself, ranks 1..n_shared (rescaled to sum ``n_neurons``), e.g.
        :func:`broken_power_law_spectrum`; ``true_alpha`` is then :func:`true_alpha` of it
        over the default fit range.
    n_time, n_neurons : int
        Size of the recording.
    n_shared : int, optional
        Dimensions of the shared signal (default ``min(n_time - 1, n_neurons)``).
    noise_scale : float
        Private noise variance per neuron / mean shared variance per neuron (0: none).
    noise_spread : float
        Neurons' private noise amplitudes are log-normal with this sd (mean square kept), as
        :func:`simulate_recording`'s; 0: every neuron the same.
    time_courses : {"exact", "gaussian"}
        ``"exact"``: the orthonormal ``U`` above, so the recording's own shared covariance
        is exactly ``lambda``. ``"gaussian"``: independent Gaussian courses of unit variance
        (AR(1) with ``timescale``), so ``lambda`` is the covariance of the process the
        recording samples, as for real activity, and the recording's own shared covariance
        scatters about it.
    timescale : float
        Correlation time (time points) of Gaussian time courses: AR(1) with coefficient
        ``exp(-1 / timescale)``; 0: white. Needs ``time_courses="gaussian"``.
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
    if (alpha is None) == (spectrum is None):
        raise InvalidInputError("give alpha or spectrum (one of them)")
    reals = (noise_scale, noise_spread, timescale, field_um) + (() if alpha is None else (alpha,))
    if (not all(_is_real(v) for v in reals) or noise_scale < 0 or noise_spread < 0 or timescale < 0
            or field_um <= 0):
        raise InvalidInputError(
            f"alpha and field_um must be finite (field_um > 0), noise_scale, noise_spread and timescale >= 0; got "
            f"alpha={alpha!r}, noise_scale={noise_scale!r}, noise_spread={noise_spread!r}, timescale={timescale!r}, "
            f"field_um={field_um!r}"
        )
    check_option("time_courses", time_courses, ("exact", "gaussian"))
    if timescale > 0 and time_courses != "gaussian":
        raise InvalidInputError(f"timescale={timescale!r} needs time_courses='gaussian'")
    check_memory(12 * n_time * n_neurons, "simulate_spontaneous")
    rng = make_rng(seed)
    shared = _signal_spectrum(alpha, spectrum, int(n_shared), float(n_neurons))
    if time_courses == "gaussian":
        activity = _correlated_signal(n_time, n_neurons, shared, float(timescale), rng)
    else:
        activity = _signal(n_time, n_neurons, shared, rng)
    if noise_scale > 0:
        amplitude = np.float32(np.sqrt(noise_scale)) * _neuron_noise_scale(n_neurons, float(noise_spread), rng)
        activity += amplitude * rng.standard_normal(activity.shape, dtype=np.float32)
    positions = rng.uniform(0, float(field_um), size=(n_neurons, 2))
    ds = make_spontaneous_recording(
        activity, positions=positions, source="simulated",
        attrs={"source": "simulated", "true_alpha": float(alpha) if alpha is not None else true_alpha(shared),
               "noise_scale": float(noise_scale), "noise_spread": float(noise_spread), "time_courses": time_courses,
               "timescale": float(timescale),
               "seed": int(seed) if isinstance(seed, (int, np.integer)) else None},
    )
    ds["true_shared_spectrum"] = ("rank", shared)
    return ds.assign_coords(rank=np.arange(1, shared.size + 1))


def _correlated_signal(n_time: int, n_neurons: int, spectrum: np.ndarray, timescale: float,
                       rng: np.random.Generator) -> np.ndarray:
    """(n_time, n_neurons) float32 shared activity with AR(1) time courses of unit variance."""
    coefficient = np.exp(-1.0 / timescale) if timescale > 0 else 0.0
    courses = scipy.signal.lfilter([np.sqrt(1 - coefficient**2)], [1.0, -coefficient],
                                   rng.standard_normal((n_time, spectrum.size)), axis=0)
    courses -= courses.mean(axis=0)
    loadings, _ = np.linalg.qr(rng.standard_normal((n_neurons, spectrum.size)))
    return ((courses * np.sqrt(spectrum)) @ loadings.T).astype(np.float32)


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
