"""What a fresh clone holds: only files that exist in the repository itself.

A tracked ``.venv`` symlink to a folder on one developer's machine once made
every fresh clone fail (``python3 -m venv .venv``: File exists) while CI, on that
machine, stayed green. These checks read git's index, as a clone would see it.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
# Made by the commands or the tests on each machine, never shipped.
LOCAL_ONLY = (".venv", "venv", "data", "build", "dist")


def tracked() -> list[tuple[str, str]]:
    """(mode, path) of every file in git's index."""
    out = subprocess.run(["git", "-C", str(REPO), "ls-files", "-s", "-z"], check=True,
                         capture_output=True).stdout.decode()
    entries = []
    for entry in filter(None, out.split("\0")):
        meta, path = entry.split("\t", 1)
        entries.append((meta.split()[0], path))
    return entries


def points_outside(path: str) -> bool:
    target = os.readlink(REPO / path)
    resolved = os.path.normpath(os.path.join(os.path.dirname(path), target))
    return os.path.isabs(target) or resolved == ".." or resolved.startswith("../")


def test_the_index_is_read():
    paths = {path for _, path in tracked()}
    assert {"pyproject.toml", "scripts/test", "tests/test_repository.py"} <= paths


def test_no_tracked_symlink_points_outside_the_repository():
    links = [path for mode, path in tracked() if mode == "120000"]
    outside = [f"{path} -> {os.readlink(REPO / path)}" for path in links
               if points_outside(path)]
    assert outside == [], "git rm --cached these: a fresh clone cannot follow them"


@pytest.mark.parametrize("folder", LOCAL_ONLY)
def test_nothing_made_on_a_machine_is_tracked(folder):
    inside = [path for _, path in tracked() if path == folder or path.startswith(folder + "/")]
    assert inside == [], f"git rm --cached -r {folder}: it is made on each machine"


def test_ci_runs_the_readme_test_command():
    ci = (REPO / ".ci" / "run").read_text()
    assert "scripts/test" in (REPO / "README.md").read_text()
    commands = [line for line in ci.splitlines() if line and not line.startswith("#")]
    assert commands[-1].split()[-1] == "scripts/test"
