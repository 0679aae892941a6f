"""The README's Configuration example is the real defaults, as `imgrec config defaults` prints."""

from __future__ import annotations

import ast
import re
from pathlib import Path
from typing import Any

import yaml
from typer.testing import CliRunner

from imgrec.cli import app
from imgrec.config import RunConfig, build_config

README = Path(__file__).resolve().parents[1] / "README.md"


def _readme_config() -> dict[str, Any]:
    text = README.read_text(encoding="utf-8")
    section = text[text.index("\n## Configuration\n") :]
    section = section[: section.index("\n## ", 1)]
    blocks = re.findall(r"^```yaml\n(.*?)^```$", section, flags=re.MULTILINE | re.DOTALL)
    assert blocks, "README.md's Configuration section has no ```yaml block"
    data = yaml.safe_load(blocks[0])
    assert isinstance(data, dict)
    return data


def _dotted(tree: dict[str, Any], prefix: str = "") -> list[str]:
    keys = []
    for key, value in tree.items():
        if isinstance(value, dict) and key != "options":
            keys += _dotted(value, f"{prefix}{key}.")
        else:
            keys.append(f"{prefix}{key}")
    return keys


def test_readme_config_is_the_defaults() -> None:
    example = _readme_config()
    defaults = RunConfig().model_dump(mode="json")
    assert example == defaults
    assert _dotted(example) == _dotted(defaults)  # same keys in the same order
    assert build_config(("README.md", example)) == RunConfig()


def test_config_defaults_prints_the_readme_config() -> None:
    done = CliRunner().invoke(app, ["config", "defaults"])
    assert done.exit_code == 0, done.output
    printed = yaml.safe_load(done.output)
    assert printed == _readme_config()
    assert list(printed) == list(_readme_config())


def test_config_keys_lists_every_readme_key_with_its_default() -> None:
    done = CliRunner().invoke(app, ["config", "keys"])
    assert done.exit_code == 0, done.output
    rows = [line.split() for line in done.output.splitlines()]
    listed = {row[0]: ast.literal_eval(row[1]) for row in rows}
    example = _readme_config()
    assert list(listed) == _dotted(example)
    for dotted, default in listed.items():
        section, _, key = dotted.partition(".")
        assert default == (example[section][key] if key else example[section]), dotted
