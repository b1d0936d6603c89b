"""The public namespace: every export resolves, and stays bound after all modules are imported."""

from __future__ import annotations

import importlib
import pkgutil
import subprocess
import sys

import pytest

import v1ann

PACKAGES = ("v1ann", "v1ann.recording", "v1ann.io", "v1ann.spectrum", "v1ann.nn", "v1ann.experiments", "v1ann.plot")


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
        if name in {"errors", "experiments", "io", "nn", "plot", "recording", "spectrum", "models", "training_data"}:
            continue
        assert callable(obj), f"{package}.{name} is {obj!r}, not a function or class"


def test_import_v1ann_does_not_load_torch():
    # The CLI imports v1ann first; torch (seconds to import) loads only when needed.
    code = "import sys, v1ann, v1ann.cli; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


# Each layer imports only from the layers before it (io and recording are one layer).
LAYERS = [{"_checks", "_docs", "_linalg", "_loglog", "_progress", "_threads", "_utils", "_resources", "errors"}, {"recording", "io"},
          {"spectrum"}, {"nn"}, {"experiments"}, {"plot"}, {"cli"}]


def _layer(module: str) -> int:
    part = module.split(".")[1] if "." in module else ""
    for i, names in enumerate(LAYERS):
        if part in names:
            return i
    return len(LAYERS)  # the package itself (v1ann/__init__, __main__)


def test_imports_flow_one_way_between_subpackages():
    import ast
    from pathlib import Path

    root = Path(v1ann.__file__).parent
    upward = []
    for path in root.rglob("*.py"):
        module = "v1ann." + ".".join(path.relative_to(root).with_suffix("").parts)
        if path.name == "__init__.py" and path.parent == root or path.name == "__main__.py":
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            names = []
            if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("v1ann"):
                names = [node.module]
            elif isinstance(node, ast.Import):
                names = [a.name for a in node.names if a.name.startswith("v1ann")]
            for name in names:
                # the lazy top-level namespace sits above everything but the CLI
                top = len(LAYERS) - 1 if name == "v1ann" else _layer(name)
                if top > _layer(module):
                    upward.append(f"{module} imports {name}")
    assert not upward, upward
