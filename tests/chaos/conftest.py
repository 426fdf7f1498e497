"""The chaos suite's fixtures: the loopback exchange and gateways killed at teardown.

``--chaos-long`` (or ``HCP_CHAOS_LONG=1``) runs the long version by hand; the option
is known only when tests/chaos is named on the command line (``pytest tests/chaos
--chaos-long``), the variable always.
"""

from __future__ import annotations

import os

import pytest

from tests.chaos.harness import LONG_ENV, gateway


def pytest_addoption(parser):
    parser.addoption("--chaos-long", action="store_true", default=False,
                     help="chaos suite: the long version (thousands of ratings, long outages)")


def pytest_configure(config):
    if config.getoption("--chaos-long", default=False):
        os.environ[LONG_ENV] = "1"


@pytest.fixture
def served(tmp_path, store):
    """``served(**env)``: a GatewayProcess on the loopback exchange (not started yet);
    whatever is still running at the end (gateway, its Redis) is killed."""
    made = []

    def make(**env):
        gw = gateway(tmp_path / f"gw{len(made)}", store.url, **env)
        made.append(gw)
        return gw

    yield make
    for gw in made:
        gw.kill()
