"""Reading flow files: YAML text → migrate → validate → ``Flow``.

The only module of ``flows`` that touches files. Shipped flows live in
``flows/shipped/*.yaml`` and are found by id (``shipped_flow("hotline-rating")``).
"""

from __future__ import annotations

from pathlib import Path

import yaml

from flows.migrations import MigrationError, migrate
from flows.model import Flow
from flows.validate import Problem, problems

SHIPPED_DIR = Path(__file__).parent / "shipped"


class FlowError(ValueError):
    """A flow that cannot load; ``problems`` lists every hard error."""

    def __init__(self, source: str, found: list[Problem]):
        self.source = source
        self.problems = found
        lines = "\n".join(f"  {p}" for p in found)
        super().__init__(f"{source}: {len(found)} error(s)\n{lines}")


def parse_text(text: str, source: str = "<text>") -> dict:
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise FlowError(source, [Problem("flow", "yaml", str(exc))]) from exc
    if not isinstance(data, dict):
        raise FlowError(source, [Problem("flow", "yaml", "a flow file is a YAML mapping")])
    return data


def load_definition(data: dict, source: str = "<text>", base_dir: str | None = None) -> Flow:
    try:
        migrated, _steps = migrate(data)
    except MigrationError as exc:
        raise FlowError(source, [Problem("flow", "spec_version", str(exc))]) from exc
    found = problems(migrated)
    if found:
        raise FlowError(source, found)
    return Flow.from_definition(migrated, base_dir)


def load_text(text: str, source: str = "<text>", base_dir: str | None = None) -> Flow:
    return load_definition(parse_text(text, source), source, base_dir)


def load_flow(path: str | Path) -> Flow:
    path = Path(path)
    return load_text(path.read_text(encoding="utf-8"), str(path), str(path.parent))


def shipped_paths() -> list[Path]:
    return sorted(SHIPPED_DIR.glob("*.yaml"))


def shipped_flow(flow_id: str) -> Flow:
    for path in shipped_paths():
        flow = load_flow(path)
        if flow.id == flow_id:
            return flow
    raise KeyError(f"no shipped flow {flow_id!r}")


def resolve(name: str) -> Flow:
    """A flow from a path, or the id or file stem of a shipped flow."""
    path = Path(name)
    if path.suffix in (".yaml", ".yml") and path.exists():
        return load_flow(path)
    stem = SHIPPED_DIR / f"{name}.yaml"
    if stem.exists():
        return load_flow(stem)
    return shipped_flow(name)
