"""The ``v1ann demo`` pipeline: the whole toolkit in two minutes on data that ship with it.

Stages (each prints one line, long ones show tqdm bars):

1. **record**: simulate a Stringer-style recording with a known exponent (``true_alpha``).
2. **fit**: cvPCA spectrum and power-law exponent with a confidence interval; the real
   Stringer 2019 spectrum shipped with v1ann is fitted beside it as the brain reference.
3. **compare**: a small randomly initialised network is shown simulated 68×270
   natural-like images (through :func:`v1ann.nn.prepare_images`) and each hidden layer's
   spectrum is put beside the brain's (:func:`v1ann.compare`).
4. **train**: the same architecture is trained on the offline MNIST subset twice, once
   plainly (vanilla) and once with a :class:`~v1ann.nn.SpectralRegularizer` whose target
   is the exponent measured in stage 2; both trained networks are compared again.
5. **attack**: FGSM and PGD accuracy of both networks over a range of budgets.
6. **report**: figures (PNG), ``summary.json`` and ``report.md`` in the output folder, and a
   summary table on stdout.

A stage whose building blocks are not installed (e.g. torchattacks) is reported as skipped,
with the reason, and the rest of the pipeline runs. The report folder is written to a
temporary folder and renamed into place at the end, so it is never half-written.
"""

from __future__ import annotations

import datetime as _dt
import json
import math
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np

from ._utils import atomic_path, make_rng, optional_import
from .errors import InvalidInputError, MissingDependencyError

__all__ = ["DemoConfig", "DemoResult", "run", "natural_like_images"]

SUMMARY = "summary.json"
REPORT = "report.md"
STIMULUS_SHAPE = (68, 270)  # Stringer's natimg2800 images: 68 × 270 pixels, grey
FIGURES = {  # file → caption, in the order of the report
    "brain_spectrum.png": "The brain: cvPCA spectrum of the simulated recording and the real Stringer 2019 spectrum, "
    "with their power-law fits.",
    "network_spectra.png": "Brain and network: hidden-layer spectra on the simulated images beside the brain's.",
    "alpha_by_layer.png": "Exponent of each network's hidden layer against the brain's alpha and CI.",
    "training_history.png": "Training of the matched network: loss, accuracy and layer alpha per epoch.",
    "layer_spectrum_vs_target.png": "Hidden-layer spectra on test digits against the target line n^-alpha.",
    "robustness_vanilla.png": "Vanilla network: accuracy under FGSM and PGD against the attack budget.",
    "robustness_matched.png": "Matched network: accuracy under FGSM and PGD against the attack budget.",
}


@dataclass(frozen=True)
class DemoConfig:
    """Sizes of the demo; the defaults run in under two minutes on a 2-core CPU.

    Attributes
    ----------
    n_stimuli, n_neurons : int
        Size of the simulated recording (two repeats of every stimulus).
    true_alpha : float
        Exponent of the simulated signal spectrum.
    noise_scale : float
        Noise variance / signal variance of the simulated recording.
    n_shuffles : int
        cvPCA repeat swaps.
    n_images : int
        Simulated 68×270 images shown to the networks for their layer spectra.
    hidden : int
        Width of the network's hidden layer (an MLP on 28×28 pixels, tanh).
    n_train : int or None
        Training images from the offline MNIST subset (None: all 4,000).
    epochs : int
        Training epochs of each network.
    strength, tau : float, int
        Spectral regularizer strength and first regularized rank (``gerum2022``, the
        recipe of docs/training.md: 500 components, weight norm, basis refreshed every 8 steps).
    n_attack : int
        Test images attacked.
    eps : tuple of float
        L∞ attack budgets (pixels in [0, 1]).
    pgd_steps : int
        PGD iterations.
    seed : int
        Seeds everything.
    """

    n_stimuli: int = 800
    n_neurons: int = 2000
    true_alpha: float = 1.0
    noise_scale: float = 1.0
    n_shuffles: int = 5
    n_images: int = 800
    hidden: int = 1000
    n_train: int | None = None
    epochs: int = 10
    strength: float = 30.0
    tau: int = 10
    n_attack: int = 500
    eps: tuple[float, ...] = (0.0, 0.02, 0.05, 0.1)
    pgd_steps: int = 10
    seed: int = 0

    def __post_init__(self):
        for name in ("n_stimuli", "n_neurons", "n_shuffles", "n_images", "hidden", "epochs", "n_attack", "pgd_steps"):
            value = getattr(self, name)
            if int(value) != value or value < 1:
                raise InvalidInputError(f"{name}={value!r} must be a positive integer")
        if self.n_train is not None and (int(self.n_train) != self.n_train or self.n_train < 10):
            raise InvalidInputError(f"n_train={self.n_train!r} must be an integer >= 10 or None")
        if min(self.n_stimuli, self.n_images) < 30:
            raise InvalidInputError("n_stimuli and n_images must be >= 30 for a power-law fit over ranks 12+")


@dataclass
class DemoResult:
    """What :func:`run` produced.

    Attributes
    ----------
    out_dir : pathlib.Path
        The report folder.
    summary : dict
        The content of ``summary.json``.
    table : str
        The printed summary table.
    """

    out_dir: Path
    summary: dict
    table: str
    figures: list[Path] = field(default_factory=list)


class _Unavailable(Exception):
    """A building block of a stage is not installed or not built yet."""


def natural_like_images(n: int, shape: tuple[int, int] = STIMULUS_SHAPE, seed=None) -> np.ndarray:
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


class _Pipeline:
    """Runs the stages, times them, and records what was done and what was skipped."""

    def __init__(self, config: DemoConfig, work: Path, progress: bool, device: str, echo: Callable[[str], None]):
        self.config = config
        self.work = work
        self.progress = progress
        self.device = device
        self.echo = echo
        self.stages: dict[str, dict] = {}
        self.results: dict[str, Any] = {}
        self.figures: list[Path] = []
        self._n_stages = 6

    def stage(self, key: str, title: str, func: Callable[[], None]) -> None:
        number = len(self.stages) + 1
        self.echo(f"[{number}/{self._n_stages}] {title} ...")
        start, cpu_start = time.perf_counter(), time.process_time()
        try:
            func()
        except (_Unavailable, MissingDependencyError) as why:
            self.stages[key] = {"title": title, "status": "skipped", "reason": str(why)}
            self.echo(f"      skipped: {why}")
            return
        seconds, cpu = time.perf_counter() - start, time.process_time() - cpu_start
        # CPU time beside wall time: on a shared machine the wall clock says little
        self.stages[key] = {"title": title, "status": "done", "seconds": round(seconds, 2), "cpu_seconds": round(cpu, 2)}
        self.echo(f"      done in {seconds:.1f} s (CPU {cpu:.1f} s)")

    def figure(self, filename: str, make: Callable[[], Any]) -> None:
        """Draw one figure and save it into the report folder."""
        from .plot._style import save_figure

        self.figures.append(save_figure(make(), self.work / filename))

    # ------------------------------------------------------------------ stages
    def record(self) -> None:
        from .simulate import simulate_recording
        c = self.config
        self.results["recording"] = simulate_recording(
            alpha=c.true_alpha,
            n_stimuli=c.n_stimuli,
            n_neurons=c.n_neurons,
            noise_scale=c.noise_scale,
            seed=c.seed,
        )

    def fit(self) -> None:
        rec = self._require("recording")
        from .spectrum.estimate import estimate_alpha
        from .spectrum.powerlaw import fit_powerlaw
        from ._resources import stringer_reference_spectrum

        c = self.config
        self.results["brain_fit"] = estimate_alpha(
            rec, fit_range=(11, min(500, c.n_stimuli, c.n_neurons - 1)), n_shuffles=c.n_shuffles,
            seed=c.seed, device=self.device, progress=self.progress,
        )
        self.results["reference_fit"] = fit_powerlaw(stringer_reference_spectrum())

        def draw():
            from .plot.fit import powerlaw_fit
            from .plot._style import new_figure
            fig, axes = new_figure(ncols=2, width=5.0, height=4.0)
            powerlaw_fit(self.results["brain_fit"], ax=axes[0], title=f"simulated recording (true alpha {c.true_alpha:g})")
            powerlaw_fit(self.results["reference_fit"], ax=axes[1], title="Stringer et al. 2019 (real, published)")
            return fig

        self.figure("brain_spectrum.png", draw)

    def compare_untrained(self) -> None:
        import torch
        from .nn import models
        self._require("brain_fit")
        from .nn.images import prepare_images
        c = self.config
        torch.manual_seed(c.seed)
        pixels = natural_like_images(c.n_images, seed=c.seed)
        self.results["images"] = prepare_images(pixels, size=28, channels=1)
        self._measure_layers("untrained", models.mlp(hidden=(c.hidden,)))

    def train(self) -> None:
        import torch
        brain_fit = self._require("brain_fit")
        from .nn.datasets import load
        from .nn.train import train
        from .nn.regularizer import SpectralRegularizer
        from .nn import models
        c = self.config
        train_set, test_set = load("mnist5k", seed=c.seed)
        # the training recipe (docs/training.md) standardises the inputs inside the model
        pixels = train_set.tensors[0]
        scale = dict(mean=float(pixels.mean()), std=float(pixels.std()))
        if c.n_train is not None and c.n_train < len(train_set):
            train_set = torch.utils.data.Subset(train_set, range(c.n_train))
        self.results["test_set"] = test_set
        histories, trained = {}, {}
        for name in ("vanilla", "matched"):
            torch.manual_seed(c.seed)  # both start from the same weights
            model = models.mlp(hidden=(c.hidden,), **scale)
            reg = None
            if name == "matched":
                reg = SpectralRegularizer(brain_fit, tau=c.tau, strength=c.strength, method="gerum2022",
                                          n_components=min(500, c.hidden))
            self.echo(f"      training the {name} network" + (f" (target alpha {brain_fit.alpha:.3f})" if reg else ""))
            histories[name] = train(
                model, train_set, test_set, regularizer=reg, epochs=c.epochs, lr=2e-3, device=self.device,
                seed=c.seed, progress=self.progress, weight_norm=reg is not None,
                basis_every=8 if reg is not None else None,
            )
            trained[name] = model
            if "images" in self.results:
                self._measure_layers(name, model)
        self.results["histories"] = histories
        self.results["trained"] = trained

        def draw_history():
            from .plot.training import training_history
            return training_history(histories["matched"], title="matched network")

        def draw_target():
            from .plot.training import layer_spectrum_vs_target
            from .nn.activations import activations
            from .spectrum.pca import pca_spectrum
            digits = test_set.tensors[0]
            layer_spectra = {
                f"{name} {layer}": pca_spectrum(values)
                for name, model in trained.items()
                for layer, values in activations(model, digits, device=self.device, progress=False).items()
            }
            return layer_spectrum_vs_target(layer_spectra, brain_fit, tau=c.tau, title="Hidden layer on test digits")

        self.figure("training_history.png", draw_history)
        self.figure("layer_spectrum_vs_target.png", draw_target)

    def attack(self) -> None:
        trained = self._require("trained")
        from .nn.robustness import robustness
        optional_import("torchattacks", extra="attacks")
        c = self.config
        self.results["robustness"] = {
            name: robustness(
                model, self.results["test_set"], attacks=("fgsm", "pgd"), eps=c.eps, steps=c.pgd_steps,
                n_samples=c.n_attack, device=self.device, seed=c.seed, progress=self.progress,
            )
            for name, model in trained.items()
        }

        for name, result in self.results["robustness"].items():

            def draw(result=result, name=name):
                from .plot.robustness import accuracy_vs_eps
                fig = accuracy_vs_eps(result)
                ax = fig.axes[0]
                ax.set_title(f"{name} network, {ax.get_title()}" if ax.get_title() else f"{name} network")
                return fig

            self.figure(f"robustness_{name}.png", draw)

    def network_figures(self) -> None:
        """Brain and every measured layer in one spectrum figure and one α-by-layer figure."""
        if "layer_fits" not in self.results:
            return
        from .comparison import compare
        brain = {"brain (simulated)": self.results["brain_fit"]}
        self.results["comparison"] = compare(brain, self.results["layer_fits"])

        def draw_spectra():
            from .plot.spectra import spectra
            return spectra(brain, self.results["layer_fits"], title="Brain and network spectra")

        def draw_alphas():
            from .plot.spectra import alpha_by_layer
            return alpha_by_layer(self.results["comparison"], title="Exponent by network and layer")

        self.figure("network_spectra.png", draw_spectra)
        self.figure("alpha_by_layer.png", draw_alphas)

    # ------------------------------------------------------------------ helpers
    def _require(self, key: str):
        if key not in self.results:
            raise _Unavailable(f"needs the result {key!r} of an earlier stage, which was skipped")
        return self.results[key]

    def _measure_layers(self, network: str, model) -> None:
        """Fit each hidden layer's spectrum on the simulated images, as ``"network layer"``."""
        from .nn.activations import activations
        from .spectrum.estimate import estimate_alpha
        acts = activations(model, self.results["images"], device=self.device, progress=self.progress)
        fits = self.results.setdefault("layer_fits", {})
        labels = self.results.setdefault("layer_labels", {})
        for layer, values in acts.items():
            label = network if len(acts) == 1 else f"{network} {layer}"  # short tick labels
            labels[label] = (network, layer)
            n_ranks = min(values.sizes["stimulus"], values.sizes["unit"]) - 1
            # no bootstrap here: a noise-free layer's spectrum is exact for these images, and
            # resampling stimuli would cost a hundred eigendecompositions per layer
            fits[label] = estimate_alpha(
                values, fit_range=(11, min(500, n_ranks)), ci=None, nonpositive="truncate", device=self.device,
                progress=self.progress,
            )


def run(
    out: str | Path = "v1ann-demo",
    *,
    config: DemoConfig | None = None,
    progress: bool = True,
    device: str = "auto",
    echo: Callable[[str], None] = print,
    **sizes,
) -> DemoResult:
    """Run the demo pipeline and write its report folder.

    Parameters
    ----------
    out : path
        Report folder. Created if missing; an existing folder is replaced only if it holds
        an earlier demo report (its ``summary.json``), never a folder of other files.
    config : DemoConfig, optional
        Sizes and seeds; default :class:`DemoConfig`.
    progress : bool
        Show tqdm bars inside the stages (the one-line stage messages always print).
    device : str
        ``"auto"`` uses CUDA when available.
    echo : callable
        Receives each progress line (default ``print``).
    **sizes
        Overrides of single :class:`DemoConfig` fields, e.g. ``n_stimuli=300, epochs=1``.

    Returns
    -------
    DemoResult
        Paths and the summary.

    Raises
    ------
    InvalidInputError
        ``out`` is a file, or a non-empty folder that is not a demo report; bad sizes.
    """
    if sizes:
        unknown = set(sizes) - set(DemoConfig.__dataclass_fields__)
        if unknown:
            raise InvalidInputError(f"unknown demo size(s) {sorted(unknown)}; see v1ann.demo.DemoConfig")
        config = DemoConfig(**{**asdict(config or DemoConfig()), **sizes})
    config = config or DemoConfig()
    out = Path(out)
    _check_out(out)
    started = time.perf_counter()
    with atomic_path(out, suffix="") as work:
        work.mkdir()
        pipe = _Pipeline(config, work, progress, device, echo)
        pipe.stage("record", f"Simulating a recording ({config.n_stimuli} stimuli x {config.n_neurons} neurons, "
                   f"true alpha {config.true_alpha:g})", pipe.record)
        pipe.stage("fit", "Estimating alpha with a CI (cvPCA, bias-corrected) and fitting the real Stringer spectrum",
                   pipe.fit)
        pipe.stage("compare", f"Comparing an untrained network's layers on {config.n_images} simulated 68x270 images",
                   pipe.compare_untrained)
        pipe.stage("train", f"Training vanilla and alpha-matched networks on mnist5k ({config.epochs} epochs)",
                   pipe.train)
        pipe.stage("attack", f"Attacking both networks (FGSM, PGD-{config.pgd_steps}) on {config.n_attack} test images",
                   pipe.attack)
        echo(f"[6/6] Writing the report to {out} ...")
        pipe.network_figures()
        summary = _summary(pipe, config, time.perf_counter() - started)
        table = _table(summary)
        _write_json(work / SUMMARY, summary)
        _write_text(work / REPORT, _report(summary, table, [p.name for p in pipe.figures]))
        figures = [out / p.name for p in pipe.figures]
    echo("")
    echo(table)
    echo(f"\nReport: {out / REPORT}  (figures, {SUMMARY})")
    return DemoResult(out_dir=out, summary=summary, table=table, figures=figures)


def _check_out(out: Path) -> None:
    if out.exists() and not out.is_dir():
        raise InvalidInputError(f"--out {out}: is a file; give a folder for the demo report")
    if out.is_dir() and any(out.iterdir()) and not (out / SUMMARY).is_file():
        raise InvalidInputError(
            f"--out {out}: folder exists and is not a v1ann demo report; it would be replaced, "
            "so choose a new or empty folder"
        )


# ---------------------------------------------------------------------- summary and report
def _fit_dict(fit) -> dict:
    keys = ("alpha", "alpha_ci", "r2", "fit_range", "method", "n_stimuli", "n_neurons")
    d = fit.to_dict() if hasattr(fit, "to_dict") else {}
    out = {k: _jsonable(d.get(k, getattr(fit, k, None))) for k in keys}
    # the bias-corrected estimator also reports what the published fit gave on the same data
    if "alpha_published" in getattr(fit, "attrs", {}):
        out["alpha_published"] = _jsonable(float(fit.attrs["alpha_published"]))
    return out


def _jsonable(value):
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, (np.integer,)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        return None if not math.isfinite(float(value)) else round(float(value), 6)
    if isinstance(value, np.ndarray):
        return _jsonable(value.tolist())
    return value


def _table_records(table) -> list[dict]:
    """Rows of a comparison table (DataFrame or xarray) as JSON-ready dicts."""
    if hasattr(table, "to_dict") and hasattr(table, "columns"):
        frame = table.reset_index() if getattr(table.index, "name", None) or table.index.nlevels > 1 else table
        return _jsonable(frame.to_dict(orient="records"))
    if hasattr(table, "to_dataframe"):
        return _table_records(table.to_dataframe())
    return _jsonable(table)


def _summary(pipe: _Pipeline, config: DemoConfig, seconds: float) -> dict:
    from . import __version__

    r = pipe.results
    summary: dict[str, Any] = {
        "v1ann_version": __version__,
        "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "seconds": round(seconds, 1),
        "config": _jsonable(asdict(config)),
        "stages": pipe.stages,
    }
    if "recording" in r:
        rec = r["recording"]
        summary["recording"] = {
            "n_stimuli": config.n_stimuli,
            "n_neurons": config.n_neurons,
            "true_alpha": _jsonable(rec.attrs.get("true_alpha", config.true_alpha)),
            "noise_scale": config.noise_scale,
        }
    if "brain_fit" in r:
        summary["brain"] = {"simulated": _fit_dict(r["brain_fit"]), "stringer2019": _fit_dict(r["reference_fit"])}
    if "comparison" in r:
        rows = _table_records(r["comparison"])
        labels = r["layer_labels"]
        summary["networks"] = [
            {"network": labels[row["layer"]][0], **row, "layer": labels[row["layer"]][1]}
            for row in rows
            if row["kind"] == "layer"
        ]
    if "histories" in r:
        summary["training"] = {
            name: {
                "epochs": int(h.sizes["epoch"]),
                "val_accuracy": _jsonable(float(h["val_accuracy"][-1])),
                "train_loss": _jsonable(float(h["train_loss"][-1])),
                "train_penalty": _jsonable(float(h["train_penalty"][-1])),
                "alpha": {str(layer): _jsonable(float(h["alpha"].sel(layer=layer)[-1])) for layer in h["layer"].values}
                if "alpha" in h
                else {},
            }
            for name, h in r["histories"].items()
        }
    if "robustness" in r:
        summary["robustness"] = {
            name: {
                "clean_accuracy": _jsonable(float(ds["clean_accuracy"])),
                "accuracy": {
                    str(attack): {f"{float(eps):g}": _jsonable(float(v)) for eps, v in zip(ds["eps"].values, row)}
                    for attack, row in zip(ds["attack"].values, ds["accuracy"].values)
                },
                "checks": ds.attrs.get("checks"),
            }
            for name, ds in r["robustness"].items()
        }
    summary["figures"] = [p.name for p in pipe.figures]
    return summary


def _fmt(value, spec: str = ".3f") -> str:
    return "-" if value is None else format(value, spec)


def _ci(fit: dict) -> str:
    ci = fit.get("alpha_ci")
    return f"[{ci[0]:.3f}, {ci[1]:.3f}]" if ci else "-"


def _table(summary: dict) -> str:
    """The printed summary: one row per brain spectrum and per network."""
    rows = [("", "alpha", "95% CI", "digits alpha", "val acc", "FGSM", "PGD")]
    brain = summary.get("brain", {})
    if "simulated" in brain:
        true = summary.get("recording", {}).get("true_alpha")
        fit = brain["simulated"]
        rows.append((f"brain: simulated (true {true:g}), {fit['method']}", _fmt(fit["alpha"]), _ci(fit), "", "", "", ""))
        if fit.get("alpha_published") is not None:
            rows.append(("brain: simulated, published fit", _fmt(fit["alpha_published"]), "-", "", "", "", ""))
    if "stringer2019" in brain:
        fit = brain["stringer2019"]
        rows.append(("brain: Stringer 2019 (real)", _fmt(fit["alpha"]), _ci(fit), "", "", "", ""))
    eps = _report_eps(summary)
    for row in summary.get("networks", []):
        name = row["network"]
        trained = summary.get("training", {}).get(name, {})
        acc = trained.get("val_accuracy")
        digits = trained.get("alpha", {}).get(row["layer"])
        attacked = summary.get("robustness", {}).get(name, {}).get("accuracy", {})
        ci = (row["alpha_ci_low"], row["alpha_ci_high"]) if row.get("alpha_ci_low") is not None else None
        rows.append(
            (
                f"network: {name} {row['layer']}",
                _fmt(row.get("alpha")),
                _ci({"alpha_ci": ci}),
                _fmt(digits) if digits is not None else "",
                _fmt(acc, ".1%") if acc is not None else "",
                _fmt(attacked.get("fgsm", {}).get(eps), ".1%") if eps else "",
                _fmt(attacked.get("pgd", {}).get(eps), ".1%") if eps else "",
            )
        )
    widths = [max(len(str(r[i])) for r in rows) for i in range(len(rows[0]))]
    header = "  ".join(str(h).ljust(w) if i == 0 else str(h).rjust(w) for i, (h, w) in enumerate(zip(rows[0], widths)))
    lines = [header, "-" * len(header)]
    for row in rows[1:]:
        lines.append("  ".join(str(v).ljust(w) if i == 0 else str(v).rjust(w) for i, (v, w) in enumerate(zip(row, widths))))
    lines.append("(network alpha: on the simulated natural-like images; digits alpha: on held-out test "
                 "digits, where the matched network was trained towards the brain's alpha)")
    if eps:
        lines.append(f"(FGSM, PGD: accuracy under attack at eps = {eps} in pixel units)")
    skipped = [f"{s['title']}: {s['reason']}" for s in summary["stages"].values() if s["status"] == "skipped"]
    lines += [f"skipped - {s}" for s in skipped]
    return "\n".join(lines)


def _report_eps(summary: dict) -> str | None:
    """The largest attack budget, as the key used in the summary."""
    for ds in summary.get("robustness", {}).values():
        keys = list(ds["accuracy"].get("pgd", {}))
        return keys[-1] if keys else None
    return None


def _report(summary: dict, table: str, figures: list[str]) -> str:
    lines = [
        "# v1ann demo report",
        "",
        f"v1ann {summary['v1ann_version']}, {summary['created']}, {summary['seconds']} s.",
        "",
        "## Summary",
        "",
        "```",
        table,
        "```",
        "",
        "## Stages",
        "",
        "| stage | status | wall s | CPU s |",
        "|---|---|---|---|",
    ]
    for stage in summary["stages"].values():
        status = stage["status"] if stage["status"] == "done" else f"skipped: {stage['reason']}"
        lines.append(f"| {stage['title']} | {status} | {stage.get('seconds', '')} | {stage.get('cpu_seconds', '')} |")
    lines += [
        "",
        "## What the numbers mean",
        "",
        "- *brain: simulated*: exponent of a simulated recording whose true signal spectrum is "
        "n^-alpha, from its cvPCA spectrum with `v1ann.estimate_alpha` (the method named in the "
        "row; `cvpca-matched` corrects the noise bias of the published fit, which is shown on the "
        "next row for the same data).",
        "- *brain: Stringer 2019 (real)*: the published fit of a real mouse V1 recording of "
        "2,800 natural images (alpha = 0.97336), recomputed from the spectrum shipped with v1ann.",
        "- *network*: exponent of a hidden layer's PCA spectrum on simulated 68x270 natural-like "
        "images, for an untrained network, a vanilla trained network, and one trained with the "
        "spectral regularizer towards the brain's alpha.",
        "- *FGSM, PGD*: test accuracy under L-infinity attacks at the largest budget.",
        "",
    ]
    if figures:
        lines += ["## Figures", ""]
        for name in sorted(figures, key=lambda n: list(FIGURES).index(n) if n in FIGURES else len(FIGURES)):
            lines += [f"**{FIGURES.get(name, name)}**", "", f"![{name}]({name})", ""]
    lines += ["Full numbers: `summary.json`.", ""]
    return "\n".join(lines)


def _write_json(path: Path, data: dict) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(data, indent=2) + "\n")


def _write_text(path: Path, text: str) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(text)
