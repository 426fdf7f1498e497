"""e2e fixture: one ``hcp serve`` (as scripts/run starts it) for the whole package."""

from __future__ import annotations

import shutil

import pytest

from tests.e2e_ivr.harness import ServedGateway
from tests.support.corestore import CoreStoreProcess


@pytest.fixture(scope="package")
def served(tmp_path_factory):
    for tool in ("sipp", "redis-server"):
        if shutil.which(tool) is None:
            pytest.fail(f"{tool} is not installed: scripts/install-deps")
    workdir = tmp_path_factory.mktemp("e2e-ivr")
    store = CoreStoreProcess().start()
    gateway = ServedGateway(workdir, store)
    try:
        gateway.start()
        yield gateway
    finally:
        code = gateway.stop()
        store.stop()
    assert code == 0, gateway.log()[-3000:]
