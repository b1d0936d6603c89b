"""The demo pipeline at toy sizes: every stage runs, the report folder is complete and honest."""

from __future__ import annotations

import json

import numpy as np
import pytest

from v1ann.errors import InvalidInputError
from v1ann.experiments import demo
from v1ann.plot.demo import save_demo_figures

TINY = dict(
    n_stimuli=240,
    n_neurons=300,
    n_shuffles=2,
    n_images=240,
    hidden=64,
    n_train=400,
    epochs=1,
    strength=1.0,  # the recipe's 30 needs its 10 epochs; after 4 steps it leaves the net near chance
    n_attack=100,
    eps=(0.0, 0.1),
    pgd_steps=3,
)
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    out = tmp_path_factory.mktemp("demo") / "report"
    lines: list[str] = []
    result = demo.run(out, progress=False, device="cpu", echo=lines.append, figures=save_demo_figures, **TINY)
    return out, result, lines


@pytest.mark.slow  # shares one ~20 s toy run of the whole pipeline
def test_every_stage_runs_and_says_so(report):
    out, result, lines = report
    stages = result.summary["stages"]
    assert list(stages) == ["record", "fit", "compare", "train", "attack"]
    not_done = {k: s.get("reason") for k, s in stages.items() if s["status"] != "done"}
    assert not not_done, f"stages skipped: {not_done}"
    for number in range(1, 7):
        assert any(line.startswith(f"[{number}/6]") for line in lines)
    assert result.table in "\n".join(lines)  # the summary table is printed


@pytest.mark.slow  # shares one ~20 s toy run of the whole pipeline
def test_report_folder_is_complete(report):
    out, result, _ = report
    summary = json.loads((out / demo.SUMMARY).read_text())
    assert summary == json.loads(json.dumps(result.summary))
    report_md = (out / demo.REPORT).read_text()
    assert "# v1ann demo report" in report_md and result.table in report_md
    assert result.figures, "no figure written"
    for path in result.figures:
        assert path.parent == out and path.read_bytes()[:8] == PNG_MAGIC
        assert f"]({path.name})" in report_md
    assert not [p for p in out.parent.iterdir() if p.name.startswith(".")]  # no temporary left


@pytest.mark.slow  # shares one ~20 s toy run of the whole pipeline
def test_summary_numbers_are_the_fits(report):
    _, result, _ = report
    s = result.summary
    # the brain reference is the published fit of the real spectrum
    assert s["brain"]["stringer2019"]["alpha"] == pytest.approx(0.97336, abs=1e-4)
    simulated = s["brain"]["simulated"]
    lo, hi = simulated["alpha_ci"]
    assert lo <= simulated["alpha"] <= hi
    assert s["recording"]["true_alpha"] == 1.0
    rows = s["networks"]
    assert {row["network"] for row in rows} == {"untrained", "vanilla", "matched"}
    assert {row["layer"] for row in rows} == {"act1"}
    for row in rows:
        assert np.isfinite(row["alpha"])
        assert row["delta_alpha"] == pytest.approx(row["alpha"] - simulated["alpha"], abs=1e-5)
    for name in ("vanilla", "matched"):
        acc = s["robustness"][name]["accuracy"]
        assert set(acc) == {"fgsm", "pgd"}
        assert acc["pgd"]["0"] == pytest.approx(s["robustness"][name]["clean_accuracy"])
        assert acc["pgd"]["0.1"] <= acc["fgsm"]["0.1"] + 0.02
        # a few steps on 400 digits: well above the 10 % of chance
        assert s["training"][name]["val_accuracy"] > 0.25


@pytest.mark.slow  # shares one ~20 s toy run of the whole pipeline
def test_missing_pieces_are_reported_as_skipped_and_a_rerun_replaces_the_report(report, tmp_path, monkeypatch):
    out, _, _ = report
    (out / "stale.txt").write_text("from an earlier run")

    def unavailable(self):
        raise demo._Unavailable("v1ann.recording.simulate not available yet")

    monkeypatch.setattr(demo._Pipeline, "record", unavailable)
    lines: list[str] = []
    result = demo.run(out, progress=False, device="cpu", echo=lines.append, figures=save_demo_figures, **TINY)
    assert not (out / "stale.txt").exists()
    stages = json.loads((out / demo.SUMMARY).read_text())["stages"]
    assert all(stage["status"] == "skipped" for stage in stages.values())
    assert stages["record"]["reason"] == "v1ann.recording.simulate not available yet"
    assert "needs the result 'recording'" in stages["fit"]["reason"]
    assert any(line.strip() == "skipped: v1ann.recording.simulate not available yet" for line in lines)
    assert "v1ann.recording.simulate not available yet" in result.table
    monkeypatch.undo()

    precious = tmp_path / "precious"
    precious.mkdir()
    (precious / "thesis.tex").write_text("...")
    with pytest.raises(InvalidInputError, match="not a v1ann demo report"):
        demo.run(precious, progress=False, echo=lambda line: None, **TINY)
    assert (precious / "thesis.tex").exists()
    with pytest.raises(InvalidInputError, match="is a file"):
        demo.run(precious / "thesis.tex", progress=False, echo=lambda line: None, **TINY)


def test_bad_sizes_are_named():
    with pytest.raises(InvalidInputError, match="n_stimuli"):
        demo.DemoConfig(n_stimuli=0)
    with pytest.raises(InvalidInputError, match="unknown demo size"):
        demo.run("unused", n_stimulus=10)


def test_natural_like_images_have_a_natural_spectrum():
    images = demo.natural_like_images(4, seed=0).astype(float)
    assert images.shape == (4, 68, 270) and images.min() == 0 and images.max() == 255
    power = np.abs(np.fft.rfft2(images - images.mean(axis=(1, 2), keepdims=True))) ** 2
    freq = np.hypot(np.fft.fftfreq(68)[:, None], np.fft.rfftfreq(270)[None, :])
    keep = (freq > 0.02) & (freq < 0.4)
    slope = np.polyfit(np.log(freq[keep]), np.log(power.mean(axis=0)[keep]), 1)[0]
    assert slope == pytest.approx(-2.0, abs=0.2)  # power ∝ 1/f², as in natural images


def test_cli_demo_help():
    from click.testing import CliRunner

    from v1ann.cli import cli

    result = CliRunner().invoke(cli, ["demo", "--help"])
    assert result.exit_code == 0 and "--out" in result.output
