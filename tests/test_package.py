"""The public namespace: every export resolves, and stays bound after all modules are imported."""

from __future__ import annotations

import importlib
import pkgutil
import subprocess
import sys

import pytest

import v1ann

PACKAGES = ("v1ann", "v1ann.io", "v1ann.spectrum", "v1ann.nn", "v1ann.plot")


def _import_every_module():
    for info in pkgutil.walk_packages(v1ann.__path__, prefix="v1ann."):
        importlib.import_module(info.name)


@pytest.mark.parametrize("package", PACKAGES)
def test_public_names_are_functions_or_classes_after_every_module_is_imported(package):
    # Importing a submodule binds it on its package; a public function of the same
    # name (v1ann.nn.train, v1ann.spectrum.cvpca, ...) must not be shadowed by it.
    _import_every_module()
    module = importlib.import_module(package)
    for name in module.__all__:
        obj = getattr(module, name)
        if name in {"io", "spectrum", "nn", "plot", "datasets", "errors", "models"}:
            continue
        assert callable(obj), f"{package}.{name} is {obj!r}, not a function or class"


def test_import_v1ann_does_not_load_torch():
    # The CLI imports v1ann first; torch (seconds to import) loads only when needed.
    code = "import sys, v1ann, v1ann.cli; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
