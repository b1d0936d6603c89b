"""The claims table and figures of ``seed_experiments.py`` (issue 24, point 4).

Decision rule, fixed before any robustness number was seen: for each claim the effect is the
seed-paired difference of robust accuracy (the strongest white-box attack of FGSM, PGD and
APGD-CE per network and ε), its 95 % interval Student's t over seeds. *Confirmed* when the
interval lies above 0, *refuted* when it lies below 0, *inconclusive* otherwise. The primary
budget is ε = 0.1; the other budgets are reported beside it.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from scipy import stats

WHITE_BOX = ["fgsm", "pgd", "apgd-ce"]
PRIMARY_EPS = 0.1


def load(paths) -> pd.DataFrame:
    frame = pd.concat([pd.read_csv(p) for p in paths], ignore_index=True)
    control = frame["target"].astype(str) == "control"
    frame["target"] = pd.to_numeric(frame["target"].where(~control), errors="coerce")
    frame["control"] = control
    frame["condition"] = [
        "recipe, strength 0" if c else ("vanilla" if pd.isna(t) else f"α = {t:g}")
        for t, c in zip(frame["target"], control)
    ]
    return frame


def per_network(frame: pd.DataFrame) -> pd.DataFrame:
    """One row per network: measured α, clean, strongest white-box, Square and transfer accuracy per ε."""
    frame = frame.assign(target_key=frame.target.fillna(-1.0).where(~frame.control, -2.0))
    keys = ["target_key", "seed"]
    meta = frame.groupby(keys)[["target", "control", "condition", "heldout_alpha", "clean_accuracy"]].first()
    attacked = frame[frame.kind == "attack"]
    strongest = (attacked[attacked.attack.isin(WHITE_BOX)].groupby(keys + ["eps"]).accuracy.min()
                 .unstack("eps").add_prefix("robust_"))
    square = attacked[attacked.attack == "square"].pivot_table(index=keys, columns="eps",
                                                               values="accuracy").add_prefix("square_")
    moved = frame[frame.kind == "transfer"].pivot_table(index=keys, columns="eps",
                                                        values="accuracy").add_prefix("transfer_")
    converge = frame[frame.kind == "convergence"].pivot_table(index=keys, columns=["steps", "restarts"],
                                                              values="accuracy")
    converge.columns = [f"pgd{s}x{r}" for s, r in converge.columns]
    return meta.join([strongest, square, moved, converge]).reset_index()


def paired(nets: pd.DataFrame, column: str, treated, control) -> tuple[float, float, float, int]:
    """Mean seed-paired difference treated − control of ``column`` and its 95 % t interval."""
    def by_seed(group):
        if group == "vanilla":
            chosen = nets[nets.target.isna() & ~nets.control]
        elif group == "control":
            chosen = nets[nets.control]
        else:
            chosen = nets[nets.target.isin(group)]
        return chosen.groupby("seed")[column].mean()

    diff = (by_seed(treated) - by_seed(control)).dropna()
    n = len(diff)
    mean = float(diff.mean())
    half = float(stats.t.ppf(0.975, n - 1) * diff.std(ddof=1) / np.sqrt(n)) if n > 1 else np.nan
    return mean, mean - half, mean + half, n


def verdict(low: float, high: float) -> str:
    if low > 0:
        return "confirmed"
    if high < 0:
        return "refuted"
    return "inconclusive"


CLAIMS = {
    "mlp": [
        ("Nassar 2020: a 1/n hidden layer makes the MLP more robust than vanilla", [1.0], "vanilla"),
        ("Nassar 2020, the spectrum's share: 1/n against the same recipe at strength 0", [1.0], "control"),
        ("Gerum 2022: dense networks at α ≈ 2–3 are more robust than at α ≈ 1", [2.0, 3.0], [1.0]),
    ],
    "cnn": [
        ("Nassar 2020: a 1/n dense hidden layer makes the CNN more robust than vanilla", [1.0], "vanilla"),
        ("Nassar 2020, the spectrum's share: 1/n against the same recipe at strength 0", [1.0], "control"),
        ("Gerum 2022's dense-network claim in a CNN (theirs: it depends): α ≈ 2–3 more robust than α ≈ 1",
         [2.0, 3.0], [1.0]),
    ],
}


def claims_table(nets: pd.DataFrame, arch: str = "mlp") -> pd.DataFrame:
    eps_values = sorted(float(c.split("_")[1]) for c in nets.columns if c.startswith("robust_") and
                        float(c.split("_")[1]) > 0)
    rows = []
    for claim, treated, control in CLAIMS[arch]:
        for eps in eps_values:
            mean, low, high, n = paired(nets, f"robust_{eps:g}" if f"robust_{eps:g}" in nets else f"robust_{eps}",
                                        treated, control)
            rows.append({"claim": claim, "eps": eps, "primary": eps == PRIMARY_EPS, "effect": mean,
                         "ci_low": low, "ci_high": high, "seeds": n, "verdict": verdict(low, high)})
        mean, low, high, n = paired(nets, "clean_accuracy", treated, control)
        rows.append({"claim": claim, "eps": 0.0, "primary": False, "effect": mean, "ci_low": low,
                     "ci_high": high, "seeds": n, "verdict": "(clean accuracy)"})
    return pd.DataFrame(rows)


def markdown(table: pd.DataFrame) -> str:
    """A DataFrame as a Markdown table, numbers to 3 decimals."""
    def cell(value):
        return f"{value:.3f}" if isinstance(value, float) else str(value)
    lines = ["| " + " | ".join(table.columns) + " |", "|" + "---|" * len(table.columns)]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in table.itertuples(index=False)]
    return "\n".join(lines)


def summarise(csv_path: Path, figures: Path | None) -> None:
    frame = load([csv_path])
    nets = per_network(frame)
    order = nets.assign(key=nets.target.fillna(-1.0).where(~nets.control, -0.5)).groupby("condition").key.first()
    order = order.sort_values().index
    summary = nets.groupby("condition")[[c for c in nets.columns if c.startswith(
        ("heldout", "clean", "robust_", "square_0.1", "transfer_0.1", "pgd"))]].agg(["mean", "std"]).loc[order]
    pd.set_option("display.width", 250)
    print(summary.round(3).to_string())
    print()
    (arch,) = frame["arch"].unique()  # one architecture per CSV
    print(markdown(claims_table(nets, arch)))
    if figures is not None:
        draw(nets, frame, figures, "seed_experiments" if arch == "mlp" else f"seed_experiments_{arch}")


def draw(nets: pd.DataFrame, frame: pd.DataFrame, folder: Path, stem: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    folder.mkdir(parents=True, exist_ok=True)
    fig, axes = plt.subplots(1, 3, figsize=(12, 3.6), constrained_layout=True)
    for ax, column, title in zip(axes, ["clean_accuracy", "robust_0.05", "robust_0.1"],
                                 ["clean", "strongest attack, ε = 0.05", "strongest attack, ε = 0.1"]):
        for condition, group in nets.groupby("condition", sort=False):
            ax.scatter(group.heldout_alpha, group[column], s=18, label=condition)
        ax.set(xlabel="measured held-out α (ranks 12–500)", ylabel="accuracy", title=title)
    axes[0].legend(fontsize=7, frameon=False)
    fig.savefig(folder / f"{stem}_vs_alpha.png", dpi=150)
    plt.close(fig)

    attacked = frame[frame.kind == "attack"]
    fig, axes = plt.subplots(1, 4, figsize=(14, 3.4), sharey=True, constrained_layout=True)
    for ax, attack in zip(axes, ["fgsm", "pgd", "apgd-ce", "square"]):
        for condition, group in attacked[attacked.attack == attack].groupby("condition", sort=False):
            curve = group.groupby("eps").accuracy.agg(["mean", "std"])
            ax.errorbar(curve.index, curve["mean"], yerr=curve["std"], marker="o", ms=3, capsize=2, label=condition)
        ax.set(xlabel="ε (L∞, pixels in [0, 1])", title=attack)
    axes[0].set_ylabel("accuracy (mean ± sd over seeds)")
    axes[0].legend(fontsize=7, frameon=False)
    fig.savefig(folder / f"{stem}_vs_eps.png", dpi=150)
    plt.close(fig)

    conv = frame[frame.kind == "convergence"]
    fig, ax = plt.subplots(figsize=(5, 3.4), constrained_layout=True)
    for (condition, restarts), group in conv.groupby(["condition", "restarts"], sort=False):
        curve = group.groupby("steps").accuracy.mean()
        ax.plot(curve.index, curve.values, marker="o", ms=3, ls="-" if restarts == 1 else "--",
                label=f"{condition}, {restarts} restart{'s' if restarts > 1 else ''}")
    ax.set(xscale="log", xlabel="PGD steps", ylabel="accuracy at ε = 0.1 (mean over seeds)")
    ax.legend(fontsize=6, frameon=False, ncol=2)
    fig.savefig(folder / f"{stem}_convergence.png", dpi=150)
    plt.close(fig)
