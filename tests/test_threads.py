"""One thread budget: torch and OpenBLAS get the same number of threads inside a heavy call."""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest
import torch
from threadpoolctl import threadpool_info

import v1ann
from v1ann import _threads
from v1ann.errors import InvalidInputError


def _pools_inside():
    """(torch threads, OpenBLAS threads) seen inside a budgeted call."""
    seen = {}

    @_threads.uses_thread_budget
    def heavy():
        seen["torch"] = torch.get_num_threads()
        seen["blas"] = {i["num_threads"] for i in threadpool_info() if i["user_api"] == "blas"}

    heavy()
    return seen["torch"], seen["blas"]


def test_set_threads_gives_both_pools_that_many_and_restores_torch_after():
    before = torch.get_num_threads()
    try:
        v1ann.set_threads(1)
        assert _pools_inside() == (1, {1})
    finally:
        v1ann.set_threads(None)
    assert torch.get_num_threads() == before


def test_the_default_uses_the_idle_cores_and_omp_num_threads_caps_it(monkeypatch):
    monkeypatch.setattr(_threads, "_idle_cores", lambda: 2)
    monkeypatch.setattr(_threads, "available_cores", lambda: 2)
    monkeypatch.setattr(_threads, "_sampled", (-1e9, 1))
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    assert _threads.default_threads() == 2
    monkeypatch.setattr(_threads, "_sampled", (-1e9, 1))
    monkeypatch.setattr(_threads, "_idle_cores", lambda: 1)  # other work holds a core
    assert _threads.default_threads() == 1
    monkeypatch.setattr(_threads, "_sampled", (-1e9, 1))
    monkeypatch.setattr(_threads, "_idle_cores", lambda: 2)
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    assert _threads.default_threads() == 1


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc/stat")
def test_idle_cores_are_counted_from_proc_stat():
    assert 0 <= _threads._idle_cores() <= _threads.available_cores()
    times = _threads._cpu_times({"cpu0"})
    assert set(times) == {"cpu0"} and 0 <= times["cpu0"][0] <= times["cpu0"][1]


def test_nested_calls_keep_the_outer_budget(monkeypatch):
    calls = []
    monkeypatch.setattr(_threads, "default_threads", lambda: calls.append(1) or 1)

    @_threads.uses_thread_budget
    def inner():
        return torch.get_num_threads()

    @_threads.uses_thread_budget
    def outer():
        return inner()

    assert outer() == 1 and len(calls) == 1


def test_bad_thread_counts_are_refused():
    with pytest.raises(InvalidInputError, match="threads"):
        v1ann.set_threads(0)


def test_importing_v1ann_sets_a_passive_omp_wait_policy_unless_the_user_chose():
    code = "import os, v1ann; print(os.environ['OMP_WAIT_POLICY'])"
    env = {k: v for k, v in os.environ.items() if k != "OMP_WAIT_POLICY"}
    assert subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True).stdout.strip() == "PASSIVE"
    env["OMP_WAIT_POLICY"] = "ACTIVE"
    assert subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True).stdout.strip() == "ACTIVE"


def test_results_do_not_depend_on_the_thread_count():
    rec = v1ann.simulate_recording(1.0, n_stimuli=120, n_neurons=200, seed=0)
    fits = []
    for n in (1, 2):
        v1ann.set_threads(n)
        try:
            fits.append(v1ann.estimate_alpha(rec, fit_range=(4, 60), n_shuffles=2, seed=0, progress=False))
        finally:
            v1ann.set_threads(None)
    np.testing.assert_allclose(fits[0].alpha, fits[1].alpha, atol=1e-6)


def test_cli_threads_option(tmp_path):
    from click.testing import CliRunner

    from v1ann.cli import cli

    spectrum = tmp_path / "s.npy"
    np.save(spectrum, np.arange(1, 600.0) ** -1.0)
    result = CliRunner().invoke(cli, ["--threads", "1", "fit", str(spectrum)])
    assert result.exit_code == 0, result.output
    assert v1ann.get_threads() == 1
    v1ann.set_threads(None)
