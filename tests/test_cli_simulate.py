"""``v1ann simulate``: the issue's done-when, formats and one-line errors."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

import v1ann
from v1ann.cli import main


def _run(args, capsys):
    """Exit status and captured output of ``v1ann ARGS``."""
    try:
        main(args)
        code = 0
    except SystemExit as exc:
        code = exc.code or 0
    return code, capsys.readouterr()


def test_simulate_then_load_gives_the_simulated_responses(tmp_path):
    out = tmp_path / "x.mat"
    result = subprocess.run(
        [sys.executable, "-m", "v1ann", "simulate", str(out), "--alpha", "1.2", "--n-neurons", "2000",
         "--n-stimuli", "500", "--seed", "1"],
        capture_output=True, text=True, timeout=300,
    )
    assert result.returncode == 0, result.stderr
    assert "x.mat" in result.stdout
    responses = v1ann.stimulus_responses(v1ann.load_stringer(out))
    assert responses.dims == ("repeat", "stimulus", "neuron")
    assert responses.shape == (2, 500, 2000)
    expected = v1ann.stimulus_responses(v1ann.simulate_recording(1.2, n_stimuli=500, n_neurons=2000, seed=1))
    np.testing.assert_array_equal(responses.values, expected.values)


@pytest.mark.parametrize("suffix, loader", [(".nwb", "load_nwb"), (".zarr", "load_zarr"), (".mat", "load_stringer")])
def test_format_from_suffix(tmp_path, capsys, suffix, loader):
    out = tmp_path / f"sim{suffix}"
    code, captured = _run(
        ["simulate", str(out), "--alpha", "0.9", "--n-neurons", "20", "--n-stimuli", "15", "--seed", "3", "--n-spont", "5"], capsys
    )
    assert code == 0, captured.err
    ds = getattr(v1ann, loader)(out)
    assert ds.attrs["true_alpha"] == 0.9 and ds.sizes["neuron"] == 20 and ds.sizes["time"] == 5
    np.testing.assert_allclose(ds["true_signal_spectrum"].values, v1ann.simulate_recording(0.9, n_stimuli=15, n_neurons=20, seed=3)["true_signal_spectrum"].values)


def test_broken_power_law_and_signal_dependent_noise(tmp_path, capsys):
    """Several --alpha with --break write a broken power law (its true alpha, the published
    fit over the ranks the file has, between the pieces' slopes); every noise model is offered."""
    out = tmp_path / "broken.mat"
    code, captured = _run(["simulate", str(out), "--alpha", "0.5", "--alpha", "1.5", "--break", "16", "--n-neurons", "80",
                           "--n-stimuli", "60", "--seed", "2", "--noise", "modulated-poisson"], capsys)
    assert code == 0, captured.err
    assert "broken power law 0.5 -> 1.5 at rank(s) 16" in captured.out
    ds = v1ann.load_stringer(out)
    spectrum = v1ann.recording.simulate.broken_power_law_spectrum([0.5, 1.5], [16], 59, total=80)
    np.testing.assert_allclose(ds["true_signal_spectrum"].values, spectrum / spectrum.sum() * ds["true_signal_spectrum"].values.sum())
    assert 0.5 < ds.attrs["true_alpha"] < 1.5
    assert ds.attrs["true_alpha"] == pytest.approx(v1ann.recording.simulate.true_alpha(spectrum))


def test_explicit_format_overrides_suffix(tmp_path, capsys):
    out = tmp_path / "sim.dat"
    code, captured = _run(["simulate", str(out), "--alpha", "1", "--n-neurons", "8", "--n-stimuli", "6", "--format", "mat"], capsys)
    assert code == 0, captured.err
    assert v1ann.load_stringer(out).sizes["neuron"] == 8


@pytest.mark.parametrize(
    "args, message",
    [
        (["--alpha", "-1"], "alpha must be a positive"),
        (["--alpha", "1", "--n-stimuli", "1"], "n-stimuli"),
        ([], "--alpha"),
        (["--alpha", "0.5", "--break", "16"], "need 0 --break"),
        (["--alpha", "0.5", "--alpha", "1", "--alpha", "2", "--break", "20", "--break", "10"], "breaks must be increasing"),
    ],
)
def test_bad_arguments_print_one_line_and_exit_2(tmp_path, capsys, args, message):
    code, captured = _run(["simulate", str(tmp_path / "x.mat"), *args], capsys)
    assert code == 2
    assert message in captured.err
    assert "Traceback" not in captured.err
    assert not (tmp_path / "x.mat").exists()


def test_unknown_suffix_needs_format(tmp_path, capsys):
    code, captured = _run(["simulate", str(tmp_path / "x.bin"), "--alpha", "1"], capsys)
    assert code == 2 and "--format" in captured.err
