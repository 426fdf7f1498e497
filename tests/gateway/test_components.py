"""Components start in order, stop in reverse, and roll back when a start fails."""

from __future__ import annotations

import pytest

from gateway.components import Components, Hook


class Recorder:
    def __init__(self, log: list, name: str, fail_start=False, fail_stop=False):
        self.log, self.name = log, name
        self.fail_start, self.fail_stop = fail_start, fail_stop

    async def start(self):
        self.log.append(f"start {self.name}")
        if self.fail_start:
            raise RuntimeError("cannot start")

    async def stop(self):
        self.log.append(f"stop {self.name}")
        if self.fail_stop:
            raise RuntimeError("cannot stop")


async def test_reverse_order_and_failing_stop_does_not_stop_the_rest():
    log: list[str] = []
    components = Components()
    for c in (Recorder(log, "a"), Recorder(log, "b", fail_stop=True), Recorder(log, "c")):
        await components.start(c)
    assert components.names == ["a", "b", "c"]
    await components.stop_all()
    assert log == ["start a", "start b", "start c", "stop c", "stop b", "stop a"]
    assert components.names == []


async def test_failed_start_stops_what_was_started():
    log: list[str] = []
    components = Components()
    await components.start(Recorder(log, "a"))
    with pytest.raises(RuntimeError):
        await components.start(Recorder(log, "b", fail_start=True))
    assert log == ["start a", "start b", "stop a"]


async def test_hook_runs_its_functions():
    log: list[str] = []

    async def up():
        log.append("up")

    components = Components()
    await components.start(Hook("h", up, None))
    await components.stop_all()
    assert log == ["up"]
