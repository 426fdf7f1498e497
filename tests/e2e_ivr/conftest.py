"""e2e fixture: one ``hcp serve`` (as scripts/run starts it) for the whole package."""

from __future__ import annotations

import pytest

from tests.e2e_ivr.harness import serve


@pytest.fixture(scope="package")
def served(tmp_path_factory):
    yield from serve(tmp_path_factory.mktemp("e2e-ivr"))
