"""A spectral regularizer that pulls a layer's eigenspectrum towards a power law n^-alpha.

The regularizer is an ``nn.Module`` you can drop into any training loop::

    reg = SpectralRegularizer(target_alpha=1.0).attach(model)   # hooks model.representation_layers
    for epoch in range(epochs):
        reg.update_basis(model, train_inputs)                      # fixed eigenbasis for the epoch
        for x, y in loader:
            loss = F.cross_entropy(model(x), y) + reg()            # reg() reads the hooked activations
            ...

Three penalties (``method``), each a different reading of "the spectrum is n^-alpha":

``"loglog"`` (default)
    v1ann's own: the weighted least-squares distance, in log-log, between the batch spectrum
    and a line of slope −alpha with a fitted intercept, with the 1/n weights of the fit that
    measures alpha, over ranks 11..500.
``"nassar2020"``
    Nassar et al. 2020's ``eigen_val_regulate`` (josuenassar/power_law): squared relative
    deviations from ``λ_11 (11/n)^alpha`` plus their positive part, ranks ≥ 12, over the width.
``"gerum2022"``
    Gerum et al. 2022's ``get_alpha`` loss (rgerum/spectral-representations): the exact
    eigenvalues of every batch, normalised to sum one, in log10, ranks 1..10, log-spacing
    weights, a line of slope −alpha with a fitted intercept.

``loglog`` and ``nassar2020`` read the batch's eigenvalues in a fixed eigenbasis ``V`` (from
the training set), ``λ_n = diag(Vᵀ C_batch V)``: the column variances of ``(H − mean H) V``,
one batch×width×K product forward and backward. ``gerum2022`` differentiates an exact
eigendecomposition of each batch. docs/training.md states the losses and every difference
from the published code.
"""

from __future__ import annotations

import functools
import math
from typing import Sequence

import numpy as np
import torch
from torch import nn

from v1ann._checks import check_int, check_number, check_option
from v1ann._loglog import DEFAULT_FIT_RANGE
from v1ann.errors import InvalidInputError
from v1ann.nn.hooks import HookedLayers, layer_covariances
from v1ann.nn.probe import spectrum_alpha

METHODS = ("loglog", "nassar2020", "gerum2022")
# Each method's own rank convention and strength: ranks tau < n <= n_components are penalised.
# nassar2020: start=10 (0-based) anchors at rank 11; gerum2022: min_x=0, max_x=10 (ranks 1..10),
# strengths 1 and 10 in their runs; loglog: the recipe of docs/training.md (fidelity table).
METHOD_DEFAULTS = {
    "loglog": {"tau": 10, "n_components": 500, "strength": 30.0},
    "nassar2020": {"tau": 11, "n_components": None, "strength": 1.0},
    "gerum2022": {"tau": 0, "n_components": 10, "strength": 1.0},
}


class SpectralRegularizer(HookedLayers, nn.Module):
    """Penalty that makes hidden representations follow ``λ_n ∝ n^-alpha``.

    Parameters
    ----------
    target_alpha : float or PowerLawFit
        Target exponent; anything with an ``.alpha`` attribute (a fit measured from a
        recording) is read through it.
    layers : str, nn.Module or a sequence of them, optional
        The layers whose outputs are regularized: modules of the model, or their names as in
        ``model.named_modules()`` (read as names at :meth:`attach`). Default:
        ``model.representation_layers``. Outputs are flattened to ``(batch, units)``.
    method : {"loglog", "nassar2020", "gerum2022"}
        The penalty, over ranks ``tau < n ≤ K`` (``K = n_components``, capped at the width):

        - ``"loglog"``: ``strength · Σ w_n (ln λ_n + alpha ln n − c)²``, ``w_n ∝ 1/n``
          summing to one, ``c`` the weighted mean of ``ln λ_n + alpha ln n`` (zero for any
          exact power law of exponent ``alpha``, whatever its scale), ``λ_n`` read along the basis.
        - ``"nassar2020"``: ``(strength/N) Σ_{n>τ, λ_n>0} [(λ_n/γ_n − 1)² + max(0, λ_n/γ_n − 1)]``,
          ``γ_n = λ_τ (τ/n)^alpha`` anchored on the batch's own τ-th eigenvalue (no gradient
          through it), ``N`` the layer width, ``λ_n`` read along the basis.
        - ``"gerum2022"``: ``strength · Σ w_n (log10 p_n + alpha log10 n − c)² / Σ w_n`` with
          ``p_n`` the exact eigenvalues of the batch covariance divided by their sum (plus
          1e-8), ``w_n = log10((n+1)/n)`` and ``c`` their weighted fit; no basis.
    tau : int, optional
        Ranks ``n > tau`` are penalised (1-based; the top ranks carry the task and stay free).
        Default: the method's own, 10 (loglog), 11 (nassar2020, also the anchor rank) or 0 (gerum2022).
    strength : float, optional
        Multiplier of the penalty (``β`` in Nassar et al. 2020). Default: the method's own,
        30 (loglog), 1 (nassar2020, gerum2022).
    n_components : int or "all", optional
        Last penalised rank ``K``. For the basis methods, projecting onto the top ``K`` basis
        vectors costs batch×width×K instead of batch×width². Default: the method's own, 500
        (loglog), all ranks (nassar2020), 10 (gerum2022).
    fit_range : (int, int)
        0-based half-open index range used for :attr:`measured_alpha` and :attr:`basis_alpha`
        (as in :func:`v1ann.fit_powerlaw`; ranks 12..500 by default), clipped to the
        layer's ranks as every layer α is (:func:`v1ann.nn.probe.spectrum_alpha`).

    Attributes
    ----------
    measured_alpha : dict[str, float]
        Exponent of each layer's latest batch spectrum (computed on access).
    basis_alpha : dict[str, float]
        Exponent of each layer's spectrum over the data given to :meth:`update_basis`
        (computed on access).
    basis_spectrum : dict[str, np.ndarray]
        Those eigenvalues, descending, shape (width,).

    Examples
    --------
    >>> import torch, v1ann
    >>> net = v1ann.nn.models.mlp(hidden=(64,))
    >>> reg = v1ann.nn.SpectralRegularizer(1.0, layers=["act1"]).attach(net)
    >>> x = torch.rand(128, 1, 28, 28)
    >>> reg = reg.update_basis(net, x)  # the eigenbasis the penalty reads variances along
    >>> logits = net(x)
    >>> penalty = reg()  # add it to the loss
    >>> penalty.ndim, bool(penalty >= 0)
    (0, True)
    """

    def __init__(
        self,
        target_alpha,
        layers: Sequence | None = None,
        *,
        method: str = "loglog",
        tau: int | None = None,
        strength: float | None = None,
        n_components: int | str | None = None,
        fit_range: tuple[int, int] = DEFAULT_FIT_RANGE,
    ):
        super().__init__()
        alpha = getattr(target_alpha, "alpha", target_alpha)
        try:
            alpha = float(alpha)
        except (TypeError, ValueError):
            raise InvalidInputError(
                f"target_alpha={target_alpha!r} must be a number or have an .alpha (e.g. a PowerLawFit)"
            ) from None
        if not math.isfinite(alpha) or alpha <= 0:
            raise InvalidInputError(f"target_alpha={alpha!r} must be a finite positive number")
        check_option("method", method, METHODS)
        defaults = METHOD_DEFAULTS[method]
        tau = check_int(defaults["tau"] if tau is None else tau, "tau (a 1-based rank)", minimum=0)
        if method == "nassar2020" and tau < 1:
            raise InvalidInputError("tau=0: nassar2020 anchors its target on rank tau, which must be >= 1")
        strength = check_number(defaults["strength"] if strength is None else strength, "strength", minimum=0)
        if n_components is None:
            n_components = defaults["n_components"]
        elif n_components == "all":
            n_components = None
        # at least two ranks beyond tau
        n_components = check_int(n_components, "n_components", minimum=tau + 2, allow_none=True)
        if isinstance(layers, (str, nn.Module)):
            layers = [layers]
        self.target_alpha = alpha
        self.layers = None if layers is None else list(layers)
        self.tau = int(tau)
        self.strength = float(strength)
        self.method = method
        self.n_components = None if n_components is None else int(n_components)
        self.fit_range = tuple(int(i) for i in fit_range)
        self.basis_spectrum: dict[str, np.ndarray] = {}
        self._basis: dict[str, torch.Tensor] = {}
        self._basis_cast: dict[tuple, torch.Tensor] = {}
        self._batch_spectrum: dict[str, torch.Tensor] = {}

    @property
    def uses_basis(self) -> bool:
        """Whether the penalty reads variances along the basis of :meth:`update_basis`
        (``gerum2022`` decomposes every batch exactly; its basis only measures alpha)."""
        return self.method != "gerum2022"

    def extra_repr(self) -> str:
        return (
            f"target_alpha={self.target_alpha:.4g}, layers={self.layers}, tau={self.tau}, "
            f"strength={self.strength:g}, method={self.method!r}, n_components={self.n_components}"
        )

    # ------------------------------------------------------------------ hooks
    def attach(self, model: nn.Module) -> "SpectralRegularizer":
        """Register forward hooks on ``model``'s layers; returns ``self`` for chaining."""
        if self.layers is None and not getattr(model, "representation_layers", None):
            raise InvalidInputError(
                "layers=None but the model has no `representation_layers`; name the layers to regularize"
            )
        return super().attach(model)

    # ------------------------------------------------------------------ basis
    @torch.no_grad()
    def update_basis(
        self, model: nn.Module, data, batch_size: int = 1024, max_samples: int | None = None
    ) -> "SpectralRegularizer":
        """Recompute each layer's eigenbasis from ``data`` (no gradient; float64 eigh).

        Parameters
        ----------
        model : nn.Module
            The model the regularizer is attached to; run in eval mode here, then restored.
        data : Tensor (samples, ...), Dataset (input first in each item) or iterable of batches
            Inputs in the model's input space, e.g. a large batch or the training set.
        batch_size : int
            Forward-pass chunk when ``data`` is a tensor or Dataset.
        max_samples : int, optional
            Use only the first ``max_samples`` inputs.
        """
        if not self.attached:
            raise InvalidInputError("call .attach(model) before .update_basis(model, data)")
        covariances = layer_covariances(self._recorder, data, batch_size=batch_size, max_samples=max_samples)
        for name, (cov, n_samples) in covariances.items():
            width = cov.shape[0]
            n_keep = width if self.n_components is None else min(self.n_components, width)
            if n_keep < self.tau + 2:
                raise InvalidInputError(
                    f"layer {name!r} has {width} units; tau={self.tau} leaves fewer than 2 ranks to regularize"
                )
            eigenvalues, eigenvectors = torch.linalg.eigh(cov)
            order = torch.argsort(eigenvalues, descending=True)
            eigenvalues = eigenvalues[order].clamp_min(0.0)
            self._basis[name] = eigenvectors[:, order[:n_keep]].contiguous()
            self.basis_spectrum[name] = eigenvalues.cpu().numpy()
        self._basis_cast = {}
        return self

    def _basis_for(self, name: str, like: torch.Tensor) -> torch.Tensor:
        """The float64 basis cast once to the activations' device and dtype."""
        key = (name, like.device, like.dtype)
        if key not in self._basis_cast:
            self._basis_cast[key] = self._basis[name].to(device=like.device, dtype=like.dtype)
        return self._basis_cast[key]

    # ------------------------------------------------------------------ penalty
    def forward(self) -> torch.Tensor:
        """The penalty for the activations captured by the latest forward pass (a scalar tensor)."""
        if not self.attached:
            raise InvalidInputError("the regularizer is not attached; call .attach(model) first")
        captured = self._recorder.outputs
        missing = [name for name in self.layers if name not in captured]
        if missing:
            raise InvalidInputError(f"no activations captured for {missing}; run model(x) before reg()")
        no_basis = [name for name in self.layers if name not in self._basis]
        if no_basis:
            raise InvalidInputError(
                f"no eigenbasis for {no_basis}; call .update_basis(model, data) before training"
            )
        total = None
        for name in self.layers:
            h = captured[name]
            if h.shape[0] < 2:
                raise InvalidInputError(f"layer {name!r}: a batch of {h.shape[0]} sample(s) has no covariance")
            basis_width = self._basis[name].shape[0]
            if basis_width != h.shape[1]:
                raise InvalidInputError(
                    f"layer {name!r} has {h.shape[1]} units but its basis has {basis_width}; "
                    "call .update_basis again"
                )
            if self.uses_basis:
                eigenvalues = projected_variances(h, self._basis_for(name, h)).double()  # float64 from here on
                eigenvalues = torch.sort(eigenvalues, descending=True).values
            else:
                eigenvalues = batch_eigenvalues(h)
            self._batch_spectrum[name] = eigenvalues.detach()
            penalty = spectral_penalty(
                eigenvalues, self.target_alpha, self.tau, self.method, n_units=h.shape[1],
                last_rank=self.n_components,
            )
            total = penalty if total is None else total + penalty
        return (self.strength * total).to(torch.promote_types(h.dtype, torch.float32))

    @property
    def measured_alpha(self) -> dict[str, float]:
        """Exponent of each layer's latest batch spectrum in the fixed basis."""
        return {
            name: spectrum_alpha(spectrum.cpu().numpy(), self.fit_range)
            for name, spectrum in self._batch_spectrum.items()
        }

    @property
    def basis_alpha(self) -> dict[str, float]:
        """Exponent of each layer's spectrum over the data last given to :meth:`update_basis`."""
        return {name: spectrum_alpha(spectrum, self.fit_range) for name, spectrum in self.basis_spectrum.items()}

    def target_spectrum(self, spectrum: np.ndarray) -> np.ndarray:
        """The target line ``γ_n = λ_τ (τ/n)^alpha`` anchored on ``spectrum`` (descending), same shape
        (at rank 1 when ``tau`` is 0)."""
        spectrum = np.asarray(spectrum, dtype=float)
        ranks = np.arange(1, len(spectrum) + 1)
        anchor = max(self.tau, 1)
        return spectrum[anchor - 1] * (anchor / ranks) ** self.target_alpha


class _ProjectedVariances(torch.autograd.Function):
    """Column variances of ``H V``, with the hand-written gradient ``2/(B−1) · (HV − mean) diag(g) Vᵀ``."""

    @staticmethod
    def forward(ctx, h, basis):
        # Centring after the projection costs batch×K instead of batch×width.
        centred = h @ basis
        centred -= centred.mean(0)
        ctx.save_for_backward(centred, basis)
        return centred.pow(2).sum(0) / (h.shape[0] - 1)

    @staticmethod
    def backward(ctx, grad):
        centred, basis = ctx.saved_tensors
        # The mean's own gradient vanishes: the centred columns sum to zero.
        grad_h = (centred * (2.0 / (centred.shape[0] - 1) * grad)) @ basis.T if ctx.needs_input_grad[0] else None
        return grad_h, None


def projected_variances(h: torch.Tensor, basis: torch.Tensor) -> torch.Tensor:
    """Variances of the batch ``h`` (B, N) along the columns of ``basis`` (N, K): ``diag(Vᵀ C V)``.

    One batch×N×K product forward and one backward, and only batch×K element-wise work (the
    autograd of centre-square-sum costs a few more batch×K passes). The gradient flows into
    ``h``, not into ``basis``. Returns shape (K,), in ``h``'s dtype.
    """
    return _ProjectedVariances.apply(h, basis)


def batch_eigenvalues(h: torch.Tensor) -> torch.Tensor:
    """Exact eigenvalues of the covariance of the batch ``h`` (B, N), descending, float64, differentiable.

    The nonzero eigenvalues of ``HᵀH`` and ``HHᵀ`` coincide, so the smaller of the two is
    decomposed; the ``min(B, N)`` eigenvalues returned are all there are (the rest are zero).
    """
    centred = (h - h.mean(0)).double()
    gram = centred.T @ centred if h.shape[1] <= h.shape[0] else centred @ centred.T
    return torch.linalg.eigvalsh(gram / (h.shape[0] - 1)).flip(0)


def spectral_penalty(
    eigenvalues: torch.Tensor,
    alpha: float,
    tau: int,
    method: str = "loglog",
    n_units: int | None = None,
    last_rank: int | None = None,
) -> torch.Tensor:
    """Unscaled penalty of a descending spectrum against ``n^-alpha`` (vectorised).

    Parameters
    ----------
    eigenvalues : Tensor (K,)
        Descending eigenvalues, ranks 1..K; gradients flow through them (not through
        ``nassar2020``'s anchor). ``gerum2022`` normalises them by their sum: pass them all.
    alpha : float
        Target exponent.
    tau : int
        Ranks ``tau < n <= last_rank`` are penalised; ``nassar2020`` anchors on rank ``tau``.
    method : {"loglog", "nassar2020", "gerum2022"}
        See :class:`SpectralRegularizer`.
    n_units : int, optional
        Normaliser ``N`` of ``nassar2020`` (the layer width); default ``K``.
    last_rank : int, optional
        Last penalised rank; default ``K``.

    Returns
    -------
    Tensor, scalar, float64
    """
    lam = eigenvalues.double()
    check_option("method", method, METHODS)
    k = lam.shape[0] if last_rank is None else min(int(last_rank), lam.shape[0])
    if k < tau + 2:
        raise InvalidInputError(f"{k} eigenvalues leave fewer than 2 ranks beyond tau={tau}")
    if method == "gerum2022":
        return _gerum2022(lam, float(alpha), tau, k)
    # Floors keep ratios and logs finite when a layer collapses (dead units, zero variance).
    floor = torch.finfo(torch.float64).tiny
    top = lam[0].detach().clamp_min(floor)
    if method == "nassar2020":
        tail = lam[tau:k]
        anchor = lam[tau - 1].detach().clamp_min(1e-12 * top)
        ratio = tail / (anchor * _rank_terms(tau, k, float(alpha), lam.device)[0])
        excess = ratio - 1.0
        # their loop skips nonpositive eigenvalues
        return torch.where(tail > 0, excess.pow(2) + torch.relu(excess), 0.0).sum() / (n_units or lam.shape[0])
    _, alpha_log_ranks, weights = _rank_terms(tau, k, float(alpha), lam.device)  # loglog
    # Ranks without variance (dead ReLUs, a layer narrower than its rank range) are left out
    # of the fit: at the floor they have no gradient, and their huge residuals would pull
    # the fitted offset down, so that the penalty pushed every live rank down after them —
    # the cascade that silenced ReLU layers. A rank approaching the floor is pushed back up.
    alive = lam[tau:k].detach() > 1e-12 * top
    weights = weights * alive
    if int(alive.sum()) < 2:
        return lam.sum() * 0.0  # no spectrum left to shape; keeps the graph
    weights = weights / weights.sum()
    residual = lam[tau:k].clamp_min(1e-12 * top).log() + alpha_log_ranks
    centred = residual - (weights * residual).sum()
    return (weights * centred.pow(2)).sum()


def _gerum2022(lam: torch.Tensor, alpha: float, tau: int, k: int) -> torch.Tensor:
    """``get_alpha(..., fix_slope=True, fit_offset=True, weighting=True)``'s loss, strength 1."""
    normalised = torch.relu(lam / lam.sum()) + 1e-8
    ranks = torch.arange(1, lam.shape[0] + 2, device=lam.device, dtype=torch.float64)
    log_ranks = torch.log10(ranks)
    y, x = torch.log10(normalised[tau:k]), log_ranks[tau:k]
    weights = (log_ranks[1:] - log_ranks[:-1])[tau:k]
    offset = (weights * y).sum() / weights.sum() + alpha * (weights * x).sum() / weights.sum()
    return ((-alpha * x + offset - y).pow(2) * weights).sum() / weights.sum()


@functools.lru_cache(maxsize=64)
def _rank_terms(tau: int, k: int, alpha: float, device: torch.device):
    """Per-rank constants of the penalties over ranks tau+1..k (float64): the target decay
    ``(tau/n)^alpha``, ``alpha log n`` and the 1/n weights summing to one; built once, not every step."""
    ranks = torch.arange(tau + 1, k + 1, device=device, dtype=torch.float64)
    weights = 1.0 / ranks
    return (max(tau, 1) / ranks) ** alpha, alpha * ranks.log(), weights / weights.sum()
