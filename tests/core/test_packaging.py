"""What a wheel user gets: typed packages, an SPDX licence with its text, the console script."""

from __future__ import annotations

import pathlib
import tomllib

ROOT = pathlib.Path(__file__).resolve().parents[2]
PACKAGES = ("bert_core", "conversion", "bert_torch", "bert_tf", "bert_flax", "bertzoo")


def test_every_package_is_typed():
    assert all((ROOT / p / "py.typed").is_file() for p in PACKAGES)


def test_licence_is_an_spdx_string_with_its_file():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert project["license"] == "Apache-2.0"
    assert project["license-files"] == ["LICENSE"]
    assert "Apache License" in (ROOT / "LICENSE").read_text()
    assert project["scripts"]["bertzoo"] == "bertzoo.cli:main"
