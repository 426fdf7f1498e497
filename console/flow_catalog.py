"""The flows the console knows: the shipped files, plus every version it has seen.

At start the console stores each shipped flow's YAML text under
``console.keys.flowdef(id, version)``, so as the files change across releases
the old versions stay available for the readable diff. Versions that appear
only in statistics (a worker running another build) are listed too, marked
"definition not kept" when no text is stored.

Nothing here may hold the gateway's event loop (the intake shares it): a flow file
is parsed and validated once per file version (mtime, size, inode) and kept; the
pages ask ``ashipped()``, which only stats the files on the loop and reloads a
changed one in a worker thread. The derived results a page needs — the review
issues, the diagram, a flow kept in Redis as text, a diff — are cached by flow
version (a version is the hash of the definition) and computed in a thread.
"""

from __future__ import annotations

import asyncio
import hashlib
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path

from console import keys
from flows.diff import diff
from flows.inspect import inspect
from flows.loader import load_text, shipped_paths
from flows.model import Flow
from flows.render import RenderError, mermaid, svg
from ratings import results

DERIVED_LIMIT = 256  # derived results kept (issues, diagrams, kept flows, diffs)


@dataclass
class FlowVersion:
    version: str
    first_seen: float | None
    shipped: bool
    in_stats: bool
    kept: bool


_files: dict[Path, tuple[tuple[int, int, int], Flow, str]] = {}  # path -> (stamp, flow, text)
_derived: OrderedDict[tuple, object] = OrderedDict()
_lock = threading.Lock()


def _stamp(path: Path) -> tuple[int, int, int]:
    st = path.stat()
    return st.st_mtime_ns, st.st_size, st.st_ino


def _fresh() -> dict[str, tuple[Flow, str]] | None:
    """The cached flows if no file changed (only stats: cheap enough for the loop)."""
    paths = shipped_paths()
    out = {}
    for path in paths:
        hit = _files.get(path)
        if hit is None or hit[0] != _stamp(path):
            return None
        out[hit[1].id] = (hit[1], hit[2])
    return out if len(_files) == len(paths) else None


def shipped() -> dict[str, tuple[Flow, str]]:
    """id -> (flow, YAML text) of the shipped files; parses only changed files (this
    can take ~50 ms of CPU: call it in a thread, or ``ashipped`` from the loop)."""
    found = _fresh()
    if found is not None:
        return found
    with _lock:
        paths = shipped_paths()
        for gone in set(_files) - set(paths):
            del _files[gone]
        for path in paths:
            stamp = _stamp(path)
            hit = _files.get(path)
            if hit is None or hit[0] != stamp:
                text = path.read_text(encoding="utf-8")
                _files[path] = (stamp, load_text(text, str(path), str(path.parent)), text)
        return {flow.id: (flow, text) for _stamp_, flow, text in _files.values()}


async def ashipped() -> dict[str, tuple[Flow, str]]:
    """``shipped()`` without parsing on the event loop."""
    found = _fresh()
    return found if found is not None else await asyncio.to_thread(shipped)


async def _derive(key: tuple, compute):
    """``compute()`` in a thread once per key (LRU of DERIVED_LIMIT)."""
    if key in _derived:
        _derived.move_to_end(key)
        return _derived[key]
    value = await asyncio.to_thread(compute)
    _derived[key] = value
    while len(_derived) > DERIVED_LIMIT:
        _derived.popitem(last=False)
    return value


async def issues(flow: Flow):
    """``flows.inspect`` review issues of a flow version."""
    return await _derive(("issues", flow.id, flow.version), lambda: inspect(flow))


async def diagram(flow: Flow) -> tuple[str, bool]:
    """(Graphviz SVG, True) or (Mermaid text, False) when ``dot`` is missing."""
    def draw():
        try:
            return svg(flow), True
        except RenderError:
            return mermaid(flow), False
    return await _derive(("diagram", flow.id, flow.version), draw)


async def diff_lines(old: Flow, new: Flow) -> list[str]:
    return await _derive(("diff", old.id, old.version, new.version), lambda: diff(old, new))


async def remember_shipped(redis) -> None:
    now = int(time.time())
    for flow_id, (flow, text) in (await ashipped()).items():
        async with redis.pipeline(transaction=True) as pipe:
            pipe.set(keys.flowdef(flow_id, flow.version), text, ex=keys.FLOWDEF_TTL_S)
            pipe.zadd(keys.flowdefs(flow_id), {flow.version: now}, nx=True)
            pipe.expire(keys.flowdefs(flow_id), keys.FLOWDEF_TTL_S)
            await pipe.execute()


async def versions(redis, flow_id: str) -> list[FlowVersion]:
    current = (await ashipped()).get(flow_id)
    kept = {v: s for v, s in await _zrange(redis, keys.flowdefs(flow_id))}
    seen = {v: s for v, s in await results.flow_versions(redis, flow_id)}
    out = []
    for v in set(kept) | set(seen) | ({current[0].version} if current else set()):
        first = min([x for x in (kept.get(v), seen.get(v)) if x is not None], default=None)
        out.append(FlowVersion(v, first, bool(current and current[0].version == v), v in seen,
                               v in kept))
    return sorted(out, key=lambda fv: (fv.first_seen or 1e12, fv.version))


async def load_version(redis, flow_id: str, version: str) -> Flow | None:
    current = (await ashipped()).get(flow_id)
    if current and current[0].version == version:
        return current[0]
    text = await redis.get(keys.flowdef(flow_id, version))
    if text is None:
        return None
    digest = hashlib.sha256(text).hexdigest()
    return await _derive(("kept", flow_id, version, digest),
                         lambda: load_text(text.decode(), f"{flow_id}@{version}"))


async def _zrange(redis, key):
    rows = await redis.zrange(key, 0, -1, withscores=True)
    return [(v.decode(), s) for v, s in rows]
