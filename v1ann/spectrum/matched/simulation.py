"""The simulator: expected cvPCA spectra of a power-law signal added to the recording's own noise.

One repeat half's noise, ``(A − B)/√2``, has the distribution of the noise in ``A`` whatever
its covariance over neurons, so a signal with eigenvalues ``λ_n ∝ n^−α`` (summing to the
recording's total signal variance) in a random orientation, plus that noise, has the
recording's noise structure without a noise model. Its expected cvPCA spectrum is exact over
the second repeat's noise; one :class:`Simulator` fixes the orientation (common random
numbers), so the spectrum is a smooth function of α.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import scipy.fft
import torch

from v1ann._linalg import symmetric_eigh


# Precision of each simulated spectrum's eigendecomposition (see Simulator.expected_for).
EIGH_DTYPE = torch.float32


class NoiseHalves(NamedTuple):
    """What the simulator takes from a recording's repeat Gram."""

    noise_gram: np.ndarray  # (P, P) float64: D Dᵀ of one half's noise D = (A − B)/√2
    total_signal: float  # tr(A_c B_cᵀ)/P: the total signal variance per stimulus


def noise_halves(gram) -> NoiseHalves:
    """Noise Gram ``D D^T`` (P x P float64) and total signal variance from a RepeatGram."""
    full = gram.gram.detach().cpu().numpy() if hasattr(gram.gram, "detach") else np.asarray(gram.gram)
    p = gram.n_stimuli
    aa, bb, ab = full[:p, :p], full[p:, p:], full[:p, p:]
    noise_gram = 0.5 * (aa + bb - ab - ab.T)
    total_signal = (np.trace(ab) - ab.sum() / p) / p
    return NoiseHalves(noise_gram, float(total_signal))


def _rotate_neurons(noise: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """``noise @ Q`` for a random orthogonal Q (permutation, then sign flips and an
    orthonormal DCT, twice): a random orientation of neuron space in O(P N log N)."""
    out = noise[:, rng.permutation(noise.shape[1])]
    for _ in range(2):
        out *= rng.choice(np.array([-1.0, 1.0], dtype=out.dtype), size=out.shape[1])
        out = scipy.fft.dct(out, norm="ortho", axis=1, overwrite_x=True, workers=-1)
    return out


class Simulator:
    """Expected cvPCA spectra of ``power-law signal + the recording's own noise``.

    One instance fixes the random orientation of the signal (common random numbers), so
    the expected spectrum is a smooth function of alpha.
    """

    def __init__(self, noise, noise_gram, total_signal, n_components, rng, device):

        n_stimuli, n_neurons = noise.shape
        self.rank = min(n_stimuli - 1, n_neurons)
        self.n_stimuli, self.n_components = n_stimuli, n_components
        self.total_signal, self.device = total_signal, device
        # M = D V: the noise along the signal's neuron directions
        rotated = _rotate_neurons(noise.copy(), rng)
        # float64 signal rows: at P ~ 3,000 the bulk eigenvalue spacing is near their float32
        # round-off (the decomposition alone tolerates it, see expected_for). A contiguous
        # copy, so the rotated (P, N) array is freed (it would stay alive under a view, once
        # per orientation kept).
        cross = np.ascontiguousarray(rotated[:, : self.rank].T)
        del rotated
        self.cross = torch.as_tensor(cross, device=device, dtype=torch.float64)  # (K, P)
        self.noise_gram = torch.as_tensor(noise_gram, device=device, dtype=torch.float64)
        self.rows = torch.as_tensor(rng.permutation(n_stimuli)[: self.rank], device=device)

    def spectrum(self, alpha: float) -> np.ndarray:
        """Signal eigenvalues ``lambda_n``, n = 1..K, summing to the total signal variance."""
        lam = np.arange(1, self.rank + 1, dtype=np.float64) ** (-alpha)
        return lam * (self.total_signal / lam.sum())

    def mean_log_rank(self, alpha: float) -> float:
        """``kappa = sum(lambda_n log n) / sum(lambda_n)``: d log(lambda_i)/d alpha = kappa - log i."""
        lam = self.spectrum(alpha)
        return float(lam @ np.log(np.arange(1, self.rank + 1)) / lam.sum())

    def expected(self, alpha: float) -> np.ndarray:
        """Expected cvPCA spectrum (ranks 1..n_components) for exponent ``alpha``."""
        return self.expected_for(self.spectrum(alpha))

    def expected_for(self, lam: np.ndarray) -> np.ndarray:
        """Expected cvPCA spectrum (ranks 1..n_components) of a signal with eigenvalues ``lam``
        (ranks 1..K, response² per stimulus)."""
        amp = torch.as_tensor(np.sqrt(self.n_stimuli * lam), device=self.device, dtype=torch.float64)
        gram = self.noise_gram.clone()
        cross = amp[:, None] * self.cross  # S D^T restricted to the signal rows
        gram[self.rows] += cross
        gram[:, self.rows] += cross.T
        gram[self.rows, self.rows] += amp**2
        # The decomposition in float32 (EIGH_DTYPE), everything else in float64: it takes half
        # the time on CPU, and moved cvpca-matched's exponent by 1e-6 where the root decides
        # and 6e-4 (under 1 % of its sd) where the distance does, at 2,800 x 2,000 (docs/changelog.md).
        _, vecs = symmetric_eigh(gram.to(EIGH_DTYPE), overwrite=True)
        vecs = vecs[:, -self.n_components:].flip(1).to(torch.float64)  # (P, k), descending
        on_signal = vecs[self.rows]  # (K, k): u_i on the signal's stimulus axes
        sx = amp[:, None] * (amp[:, None] * on_signal + self.cross @ vecs)  # (K, k) = S X^T u
        return ((on_signal * sx).sum(0) / self.n_stimuli).cpu().numpy()


