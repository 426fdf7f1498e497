"""The engine is pure: no IO package is imported, no clock read, no file opened."""

import ast
import subprocess
import sys
from pathlib import Path

import flows

ENGINE_MODULES = ["effects", "events", "grammar", "reasons", "model", "session", "step",
                  "menus", "nodes", "nodetypes", "engine"]
ALLOWED_IMPORTS = {"__future__", "dataclasses", "typing", "json", "hashlib", "types",
                   "unicodedata", "datetime", "enum", "flows", "ratings"}
FORBIDDEN_RUNTIME = {"asyncio", "socket", "redis", "pjsua2", "aiohttp", "sqlite3",
                     "subprocess", "threading", "smpp34", "aiosmpplib", "yaml", "jsonschema",
                     "urllib3", "requests", "selectors"}


def _imports(path: Path):
    tree = ast.parse(path.read_text())
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            yield from (a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            yield node.module


def test_engine_modules_import_only_pure_modules():
    root = Path(flows.__file__).parent
    for name in ENGINE_MODULES:
        for module in _imports(root / f"{name}.py"):
            assert module.split(".")[0] in ALLOWED_IMPORTS, f"flows/{name}.py imports {module}"
            if module.startswith("ratings"):
                assert module == "ratings.grades", f"flows/{name}.py imports {module}"


def test_engine_reads_no_clock_and_opens_no_file():
    root = Path(flows.__file__).parent
    for name in ENGINE_MODULES:
        text = (root / f"{name}.py").read_text()
        for word in ("open(", ".now(", "utcnow", "time.time", "monotonic"):
            assert word not in text, f"flows/{name}.py uses {word}"


def test_importing_the_engine_loads_no_io_package():
    code = ("import sys, flows.engine; "
            "print(' '.join(sorted({m.split('.')[0] for m in sys.modules})))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, cwd=Path(flows.__file__).parent.parent).stdout.split()
    assert not FORBIDDEN_RUNTIME & set(out)
