"""The repository documents itself: README links stay inside it, and docs/ARCHITECTURE.md
names the tasks, formats, default models and import layers the code has."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
ARCHITECTURE = ROOT / "docs" / "ARCHITECTURE.md"


def _links(text: str) -> list[str]:
    return [t for t in re.findall(r"\]\(([^)#\s]+)[^)]*\)", text) if "://" not in t]


def test_readme_points_inside_the_repository() -> None:
    text = README.read_text(encoding="utf-8")
    assert "../shared" not in text and "ARCHITECTURE.md" in text
    assert "docs/ARCHITECTURE.md" in _links(text)
    for link in _links(text) + _links(ARCHITECTURE.read_text(encoding="utf-8")):
        target = (ROOT / link).resolve()
        assert target.is_relative_to(ROOT) and target.exists(), link


def test_architecture_lists_each_task_with_its_formats_and_default_model() -> None:
    from imgrec.tasks.registry import get_task, list_tasks

    rows = {}
    for line in ARCHITECTURE.read_text(encoding="utf-8").splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) == 5 and re.fullmatch(r"`[a-z]+`", cells[0]):
            rows[cells[0].strip("`")] = cells
    assert sorted(rows) == list_tasks()
    for name, (_, formats, model, _, _) in rows.items():
        task = get_task(name)
        assert set(re.findall(r"`([a-z.-]+)`", formats)) == set(task.formats), name
        assert model == f"`{task.default_model}`", name


def test_architecture_states_the_import_layers_of_pyproject() -> None:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    contracts = config["tool"]["importlinter"]["contracts"]
    (layers,) = [c["layers"] for c in contracts if c["type"] == "layers"]
    text = " ".join(ARCHITECTURE.read_text(encoding="utf-8").split())
    stated = ", ".join(f"`{layer.replace('imgrec.', '')}`" for layer in layers)
    assert f"Layers, top to bottom: {stated}." in text
    assert f"{len(contracts)} import-linter contracts" in text.replace("Four", "4")
