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
import functools
import importlib.metadata
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable

import torch
from torch.utils.data import TensorDataset

from v1ann._checks import check_int
from v1ann._loglog import DEFAULT_FIT_RANGE, fit_range_pair
from v1ann._resources import stringer_reference_spectrum
from v1ann._threads import uses_thread_budget
from v1ann._utils import atomic_path, optional_import, to_jsonable, write_json
from v1ann.errors import InvalidInputError, MissingDependencyError
from v1ann.experiments.comparison import compare
from v1ann.experiments.recipe import train_network
from v1ann.nn import models
from v1ann.nn.inputs import prepare_images
from v1ann.nn.probe import layer_alphas
from v1ann.nn.robustness import robustness
from v1ann.nn.training_data import load_training_data
from v1ann.recording.simulate import natural_like_images, simulate_recording
from v1ann.spectrum.estimate import estimate_alpha
from v1ann.spectrum.powerlaw import fit_powerlaw

_json = functools.partial(to_jsonable, digits=6)  # the summary keeps six decimals

__all__ = ["DemoConfig", "DemoResult", "run"]

SUMMARY = "summary.json"
REPORT = "report.md"
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
        Spectral regularizer strength and last free rank (``loglog``, the recipe of
        docs/training.md: 500 components, weight norm, basis refreshed every 8 steps).
    n_attack : int
        Test images attacked.
    eps : tuple of float
        L∞ attack budgets (pixels in [0, 1]).
    pgd_steps : int
        PGD iterations.
    fit_range : (int, int)
        Rank range of every fit (brain, layers, held-out α), clipped to the ranks each has.
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
    fit_range: tuple[int, int] = DEFAULT_FIT_RANGE
    seed: int = 0

    def __post_init__(self):
        for name in ("n_stimuli", "n_neurons", "n_shuffles", "n_images", "hidden", "epochs", "n_attack", "pgd_steps"):
            value = getattr(self, name)
            check_int(value, name)
        if self.n_train is not None and (int(self.n_train) != self.n_train or self.n_train < 10):
            raise InvalidInputError(f"n_train={self.n_train!r} must be an integer >= 10 or None")
        object.__setattr__(self, "fit_range", fit_range_pair(self.fit_range))  # frozen: checked once, before any work
        if min(self.n_stimuli, self.n_images) < 30:
            raise InvalidInputError("n_stimuli and n_images must be >= 30 for a power-law fit over ranks 12+")


@dataclass(frozen=True)
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
    figures : list of pathlib.Path
        The figures written into the report folder (none when ``run`` got no ``figures``).
    """

    out_dir: Path
    summary: dict
    table: str
    figures: list[Path] = field(default_factory=list)


class _Unavailable(Exception):
    """A building block of a stage is not installed or not built yet."""


class _Pipeline:
    """Runs the stages, times them, and records what was done and what was skipped."""

    def __init__(self, config: DemoConfig, progress: bool, device: str, echo: Callable[[str], None]):
        self.config = config
        self.progress = progress
        self.device = device
        self.echo = echo
        self.stages: dict[str, dict] = {}
        self.results: dict[str, Any] = {}
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

    # ------------------------------------------------------------------ stages
    def record(self) -> None:
        c = self.config
        self.results["recording"] = simulate_recording(
            alpha=c.true_alpha, n_stimuli=c.n_stimuli, n_neurons=c.n_neurons, noise_scale=c.noise_scale, seed=c.seed,
        )

    def fit(self) -> None:
        rec = self._require("recording")
        c = self.config
        self.results["brain_fit"] = estimate_alpha(
            rec, fit_range=c.fit_range,
            n_shuffles=c.n_shuffles, seed=c.seed, device=self.device, progress=self.progress,
        )
        self.results["reference_fit"] = fit_powerlaw(stringer_reference_spectrum())

    def compare_untrained(self) -> None:
        self._require("brain_fit")
        c = self.config
        torch.manual_seed(c.seed)
        pixels = natural_like_images(c.n_images, seed=c.seed)
        self.results["images"] = prepare_images(pixels, size=28, channels=1)
        self._measure_layers("untrained", models.mlp(hidden=(c.hidden,)))

    def train(self) -> None:
        brain_fit = self._require("brain_fit")
        c = self.config
        train_set, test_set = load_training_data("mnist5k", seed=c.seed)
        if c.n_train is not None and c.n_train < len(train_set):
            train_set = TensorDataset(*(t[: c.n_train] for t in train_set.tensors))
        self.results["test_set"] = test_set
        histories, trained, heldout, digit_spectra = {}, {}, {}, {}
        for name, target in (("vanilla", None), ("matched", brain_fit)):
            self.echo(f"      training the {name} network" + (f" (target alpha {brain_fit.alpha:.3f})" if target else ""))
            run = train_network(
                train_set, test_set, target_alpha=target, arch="mlp", hidden=(c.hidden,), epochs=c.epochs,
                strength=c.strength, tau=c.tau, fit_range=c.fit_range, seed=c.seed, device=self.device, progress=self.progress,
            )
            histories[name], trained[name], heldout[name] = run.history, run.model, run.heldout
            digit_spectra.update({f"{name} {layer}": spectrum for layer, spectrum in run.heldout_spectra.items()})
            if "images" in self.results:
                self._measure_layers(name, run.model)
        self.results["histories"] = histories
        self.results["trained"] = trained
        self.results["heldout"] = heldout
        self.results["digit_spectra"] = digit_spectra

    def attack(self) -> None:
        trained = self._require("trained")
        optional_import("torchattacks", extra="attacks")
        c = self.config
        self.results["robustness"] = {
            name: robustness(
                model, self.results["test_set"], attacks=("fgsm", "pgd"), eps=c.eps, steps=c.pgd_steps,
                n_samples=c.n_attack, device=self.device, seed=c.seed, progress=self.progress,
            )
            for name, model in trained.items()
        }

    def compare_all(self) -> None:
        """Brain and every measured layer in one comparison table."""
        if "layer_fits" in self.results:
            brain = {"brain (simulated)": self.results["brain_fit"]}
            self.results["comparison"] = compare(brain, self.results["layer_fits"])

    # ------------------------------------------------------------------ helpers
    def _require(self, key: str):
        if key not in self.results:
            raise _Unavailable(f"needs the result {key!r} of an earlier stage, which was skipped")
        return self.results[key]

    def _measure_layers(self, network: str, model) -> None:
        """Fit each hidden layer's spectrum on the simulated images, as ``"network layer"``."""
        fits = self.results.setdefault("layer_fits", {})
        labels = self.results.setdefault("layer_labels", {})
        layer_fits = layer_alphas(model, self.results["images"], fit_range=self.config.fit_range, device=self.device,
                                  progress=self.progress)
        for layer, fit in layer_fits.items():
            label = network if len(layer_fits) == 1 else f"{network} {layer}"  # short tick labels
            labels[label] = (network, layer)
            fits[label] = fit


@uses_thread_budget
def run(
    out: str | Path = "v1ann-demo",
    *,
    config: DemoConfig | None = None,
    progress: bool = True,
    device: str = "auto",
    echo: Callable[[str], None] = print,
    figures: Callable[[dict, DemoConfig, Path], list[Path]] | None = None,
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
    figures : callable, optional
        ``figures(results, config, folder) -> paths`` draws the report's figures into the
        folder; ``v1ann demo`` passes :func:`v1ann.plot.demo.save_demo_figures`. None: no figures.
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
            raise InvalidInputError(f"unknown demo size(s) {sorted(unknown)}; see v1ann.experiments.demo.DemoConfig")
        config = DemoConfig(**{**asdict(config or DemoConfig()), **sizes})
    config = config or DemoConfig()
    out = Path(out)
    _check_out(out)
    started = time.perf_counter()
    pipe = _Pipeline(config, progress, device, echo)
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
    pipe.compare_all()
    with atomic_path(out, suffix="") as work:
        work.mkdir()
        names = [p.name for p in figures(pipe.results, config, work)] if figures is not None else []
        summary = _summary(pipe, config, names, time.perf_counter() - started)
        table = _table(summary)
        write_json(work / SUMMARY, summary)
        with atomic_path(work / REPORT) as tmp:
            tmp.write_text(_report(summary, table, names))
    echo("")
    echo(table)
    echo(f"\nReport: {out / REPORT}  (figures, {SUMMARY})")
    return DemoResult(out_dir=out, summary=summary, table=table, figures=[out / name for name in names])


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
    out = {k: _json(d.get(k, getattr(fit, k, None))) for k in keys}
    # the bias-corrected estimator also reports what the published fit gave on the same data
    if "alpha_published" in getattr(fit, "attrs", {}):
        out["alpha_published"] = _json(float(fit.attrs["alpha_published"]))
    return out


def _table_records(table) -> list[dict]:
    """Rows of a comparison table (DataFrame or xarray) as JSON-ready dicts."""
    if hasattr(table, "to_dict") and hasattr(table, "columns"):
        frame = table.reset_index() if getattr(table.index, "name", None) or table.index.nlevels > 1 else table
        return _json(frame.to_dict(orient="records"))
    if hasattr(table, "to_dataframe"):
        return _table_records(table.to_dataframe())
    return _json(table)


def _summary(pipe: _Pipeline, config: DemoConfig, figures: list[str], seconds: float) -> dict:
    r = pipe.results
    summary: dict[str, Any] = {
        "v1ann_version": importlib.metadata.version("v1ann"),
        "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "seconds": round(seconds, 1),
        "config": _json(asdict(config)),
        "stages": pipe.stages,
    }
    if "recording" in r:
        rec = r["recording"]
        summary["recording"] = {
            "n_stimuli": config.n_stimuli,
            "n_neurons": config.n_neurons,
            "true_alpha": _json(rec.attrs.get("true_alpha", config.true_alpha)),
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
                "val_accuracy": _json(float(h["val_accuracy"][-1])),
                "train_loss": _json(float(h["train_loss"][-1])),
                "train_penalty": _json(float(h["train_penalty"][-1])),
                # measured on the held-out test digits (the recipe's layer_alphas), not the training subset
                "alpha": {str(layer): _json(fit.alpha) for layer, fit in r["heldout"][name].items()},
                "alpha_training_digits": {str(layer): _json(float(h["alpha"].sel(layer=layer)[-1]))
                                          for layer in h["layer"].values} if "alpha" in h else {},
            }
            for name, h in r["histories"].items()
        }
    if "robustness" in r:
        summary["robustness"] = {
            name: {
                "clean_accuracy": _json(float(ds["clean_accuracy"])),
                "accuracy": {
                    str(attack): {f"{float(eps):g}": _json(float(v)) for eps, v in zip(ds["eps"].values, row)}
                    for attack, row in zip(ds["attack"].values, ds["accuracy"].values)
                },
                "checks": ds.attrs.get("checks"),
            }
            for name, ds in r["robustness"].items()
        }
    summary["figures"] = figures
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
