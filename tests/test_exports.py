"""The subpackages' public names: every name in ``__all__`` resolves, and importing is light."""

from __future__ import annotations

import importlib
import json
import subprocess
import sys
from types import ModuleType

import pytest

PACKAGES = ("imgrec.data", "imgrec.models", "imgrec.evaluation", "imgrec.explain")
HEAVY = ("torch", "torchvision", "timm", "matplotlib")


@pytest.mark.parametrize("package", PACKAGES)
def test_every_public_name_resolves(package: str) -> None:
    module = importlib.import_module(package)
    names = module.__all__
    assert names, f"{package}.__all__ is empty"
    assert len(set(names)) == len(names), f"{package}.__all__ repeats a name"
    for name in names:
        value = getattr(module, name)
        # A name that is also a submodule would resolve to the function or the module depending
        # on import order; the re-export must be the object itself, from inside the package.
        assert not isinstance(value, ModuleType), f"{package}.{name} is a module"
        assert value.__module__.startswith(f"{package}."), (package, name, value.__module__)
    assert set(names) <= set(dir(module))


@pytest.mark.parametrize("package", PACKAGES)
def test_unknown_name_raises_attribute_error(package: str) -> None:
    module = importlib.import_module(package)
    with pytest.raises(AttributeError, match="no_such_name"):
        _ = module.no_such_name


def test_importing_the_packages_does_not_import_torch() -> None:
    # conftest imports torch in this process, so the check runs in a fresh interpreter.
    code = (
        "import importlib, json, sys\n"
        f"for package in {PACKAGES!r}:\n"
        "    importlib.import_module(package)\n"
        f"print(json.dumps(sorted(m for m in {HEAVY!r} if m in sys.modules)))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == []
