"""PEP 562 lazy exports, so ``import v1ann`` and the CLI start fast (torch loads on first use)."""

from __future__ import annotations

import importlib


def attach(package: str, exports: dict[str, str], submodules: tuple[str, ...] = ()):
    """Return ``(__getattr__, __dir__, __all__)`` for a package.

    ``exports`` maps a public name to the module (absolute, or relative to ``package``)
    that defines it.
    """

    def __getattr__(name: str):
        if name in exports:
            module = importlib.import_module(exports[name], package)
            return getattr(module, name)
        if name in submodules:
            return importlib.import_module(f"{package}.{name}")
        raise AttributeError(f"module {package!r} has no attribute {name!r}")

    names = sorted(set(exports) | set(submodules))

    def __dir__():
        return names

    return __getattr__, __dir__, names
