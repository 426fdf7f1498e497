"""The package layering, checked on every module's imports (parsed, not run).

    flows  <-  ratings  <-  ivr, sms  <-  adapters  <-  console  <-  gateway

A package imports only itself and the packages to its left. Siblings of one
layer (ivr and sms) do not import each other. The gateway is the process that
composes everything, the console one of its parts. Imports
inside functions count too: a late import is still a dependency.

Documented exceptions (DESIGN): flows may import ``ratings.grades`` (only Grade
knows digits and names) and ``sms.segments`` (the sender's segment rules, to
lint SMS texts).

KNOWN_VIOLATIONS are places that break the rule today; each names its file and
is a debt to pay, not a licence. A second test fails when one of them is gone,
so the list cannot outlive the debt.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

LAYERS: list[set[str]] = [
    {"flows"},
    {"ratings"},
    {"ivr", "sms"},
    {"adapters"},
    {"console"},
    {"gateway"},
]
RANK = {pkg: n for n, layer in enumerate(LAYERS) for pkg in layer}

# (importing package, imported module prefix): allowed by design.
DOCUMENTED_EXCEPTIONS = {
    ("flows", "ratings.grades"),
    ("flows", "sms.segments"),
}

# (importing file, imported module prefix): breaks the rule today.
KNOWN_VIOLATIONS = {
    # ivr -> adapters: the worker drives the pjsua2 SIP adapter directly
    # instead of being handed a SIP endpoint by the gateway.
    ("ivr/worker.py", "adapters.sip_pjsua2"),
    # ivr -> adapters: the prompt cache synthesises through the TTS adapter.
    ("ivr/prompts.py", "adapters.tts"),
    # ivr -> gateway: the pool registers its settings in the gateway's config.
    ("ivr/pool_config.py", "gateway.config"),
}


def _imported_names(tree: ast.AST) -> list[tuple[int, str]]:
    """(line, dotted name) of every absolute import; ``from a import b`` -> ``a.b``."""
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module:
            if node.level:  # relative: stays inside its own package
                continue
            out += [(node.lineno, f"{node.module}.{alias.name}") for alias in node.names]
    return out


def _matches(name: str, prefix: str) -> bool:
    return name == prefix or name.startswith(prefix + ".")


def _forbidden_imports(root: Path = ROOT) -> list[tuple[str, int, str]]:
    found = []
    for pkg in RANK:
        for path in sorted((root / pkg).rglob("*.py")):
            rel = path.relative_to(root).as_posix()
            for line, name in _imported_names(ast.parse(path.read_text(), rel)):
                target = name.split(".")[0]
                if target not in RANK or target == pkg or RANK[target] < RANK[pkg]:
                    continue
                if any(p == pkg and _matches(name, m) for p, m in DOCUMENTED_EXCEPTIONS):
                    continue
                found.append((rel, line, name))
    return found


def _is_known(rel: str, name: str) -> bool:
    return any(f == rel and _matches(name, m) for f, m in KNOWN_VIOLATIONS)


def test_every_package_is_scanned():
    for pkg in RANK:
        assert list((ROOT / pkg).rglob("*.py")), f"no modules found in {pkg}/"


def test_no_import_reaches_right_or_sideways():
    bad = [f"{rel}:{line} imports {name}" for rel, line, name in _forbidden_imports()
           if not _is_known(rel, name)]
    assert not bad, "layering broken:\n" + "\n".join(bad)


def test_known_violations_are_still_real():
    found = _forbidden_imports()
    stale = [(f, m) for f, m in sorted(KNOWN_VIOLATIONS)
             if not any(rel == f and _matches(name, m) for rel, _, name in found)]
    assert not stale, f"fixed; remove from KNOWN_VIOLATIONS: {stale}"


@pytest.mark.parametrize("source, expected", [
    ("from ratings.grades import Grade", ["ratings.grades.Grade"]),
    ("import sms.segments as s", ["sms.segments"]),
    ("def f():\n    from gateway import serve\n", ["gateway.serve"]),
    ("from . import sibling", []),
])
def test_import_names_are_read_as_the_checker_expects(source, expected):
    assert [name for _, name in _imported_names(ast.parse(source))] == expected


def test_the_checker_catches_a_right_import(tmp_path):
    for pkg in RANK:
        (tmp_path / pkg).mkdir()
    (tmp_path / "flows" / "bad.py").write_text(
        "from adapters.tts import x\nfrom ratings.grades import G\nimport flows.model\n")
    (tmp_path / "sms" / "bad.py").write_text("import ivr.call\n")
    assert _forbidden_imports(tmp_path) == [("flows/bad.py", 1, "adapters.tts.x"),
                                            ("sms/bad.py", 1, "ivr.call")]
