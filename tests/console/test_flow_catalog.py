"""Flow pages parse a flow file once per file version, off the event loop; derived results
(review issues, diagram, diff) are computed once per flow version (issue 13)."""

from __future__ import annotations

import asyncio
import os
import shutil
import threading

from console import flow_catalog
from flows.loader import SHIPPED_DIR


def _copy_shipped(tmp_path, monkeypatch):
    for path in SHIPPED_DIR.glob("*.yaml"):
        shutil.copy(path, tmp_path / path.name)
    monkeypatch.setattr(flow_catalog, "shipped_paths", lambda: sorted(tmp_path.glob("*.yaml")))
    monkeypatch.setattr(flow_catalog, "_files", {})
    parsed = []
    real = flow_catalog.load_text

    def counting(text, source, *args):
        parsed.append((source, threading.current_thread() is threading.main_thread()))
        return real(text, source, *args)

    monkeypatch.setattr(flow_catalog, "load_text", counting)
    return parsed


async def test_files_are_parsed_once_per_version_and_never_on_the_loop(tmp_path, monkeypatch):
    parsed = _copy_shipped(tmp_path, monkeypatch)
    first = await flow_catalog.ashipped()
    n_files = len(list(tmp_path.glob("*.yaml")))
    assert len(parsed) == n_files and "hotline-rating" in first
    assert not any(on_main for _src, on_main in parsed)  # parsed in a worker thread
    for _ in range(5):
        assert await flow_catalog.ashipped() == first
    assert len(parsed) == n_files  # cached: no second parse

    path = tmp_path / "hotline_rating.yaml"
    path.write_text(path.read_text(encoding="utf-8").replace("description:", "description: 改"
                                                           , 1), encoding="utf-8")
    os.utime(path, ns=(1, 1))  # a new version even if the clock did not move
    again = await flow_catalog.ashipped()
    assert [src for src, _ in parsed[n_files:]] == [str(path)]  # only the changed file
    assert again["hotline-rating"][0].version != first["hotline-rating"][0].version
    assert again["sms-reminder"][0] is first["sms-reminder"][0]

    path.unlink()
    assert "hotline-rating" not in await flow_catalog.ashipped()


async def test_issues_and_diagram_are_computed_once_per_flow_version(monkeypatch):
    flow = (await flow_catalog.ashipped())["hotline-rating"][0]
    calls = []
    real = flow_catalog.inspect
    monkeypatch.setattr(flow_catalog, "inspect", lambda f: calls.append(f.version) or real(f))
    monkeypatch.setattr(flow_catalog, "_derived", flow_catalog.OrderedDict())
    results = await asyncio.gather(*(flow_catalog.issues(flow) for _ in range(3)))
    assert results[0] == results[1] == results[2]
    await flow_catalog.issues(flow)
    assert 1 <= len(calls) <= 3  # concurrent first requests may compute; later ones never
    before = len(calls)
    await flow_catalog.issues(flow)
    assert len(calls) == before
    picture, _is_svg = await flow_catalog.diagram(flow)
    assert picture and (await flow_catalog.diagram(flow))[0] is picture
