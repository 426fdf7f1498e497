"""A real HTTP server on loopback that plays the core rating store and fails on purpose.

Theory of operation: one aiohttp app on 127.0.0.1 (random port) answers
``POST /v1/evaluations``. It verifies the HMAC-SHA256 signature header over the
exact body bytes (401 if wrong), needs an ``Idempotency-Key`` (400 if absent),
checks the record the way the exchange does (422 with a reason: a grade below 3
without ``evalDetail`` or ``writingEvaluation`` is refused), then stores it.

Like the exchange, it keeps one record per (projectNo, assessNumber): 201 the first
time; a repeat is refused with 409 and the exchange's Chinese wording
(``DUPLICATE_WORDING``, it says 重复), whoever sent it. A repeat of the same
idempotency key is counted in ``duplicates``; a different record under a taken
(projectNo, assessNumber) in ``refused_repeats``.

``GET /v1/evaluations?projectNo=…&assessNumber=…`` (signed over the query string)
answers what is stored there: 200 ``{"projectNo", "assessNumber", "record",
"idempotencyKey"}`` or 404. ``plant(payload, key)`` stores someone else's record
(another system reporting to the exchange) so a test can make our key taken, and
``query_supported = False`` makes the GET answer 404 to everything (an exchange
without a query).

``POST /v1/evaluations/corrections`` (signed, with an ``Idempotency-Key``) takes a
correction (seed art. 15: a rating excluded as 误评/恶意差评): ``projectNo`` and
``assessNumber`` of a rating stored here, ``correctionType`` 1 (误评) or 2 (恶意差评)
and a non-blank ``reason``; 422 if no rating is stored in that slot; one correction per
slot: a repeat is 409 with the duplicate wording and carries the stored correction
(``record``, ``idempotencyKey``). Kept in ``corrections`` (key -> payload); the queued
faults apply to it as to a rating. Faults are queued and consumed one request at a time,
so a test says exactly what the next N requests see:

    fail_next(n, status=503)         answer 5xx
    slow_next(n, seconds, after_store=True)  answer late (client timeouts); by default
                                     the record IS stored first, as a real store would
    reset_next(n, after_store=False) RST the TCP connection (SO_LINGER 0, abort)
    conflict_next(n)                 answer 409 (duplicate wording) without storing
    reject_next(n, reason, status)   answer 4xx with a reason, store nothing
    reject_key(substring, reason)    reject every record whose key contains substring
    fail_rate(p, seed)               answer 503 to a random share p of requests
    latency(seconds)                 every answer takes this long (a store across a WAN)
    hang(True) / hang(False)         the exchange stops answering: every request (POST and
                                     query) waits, however long, until hang(False); then it
                                     goes on as usual (a record whose client gave up
                                     meanwhile is still stored, as at a real exchange)

Two ways to drive it:
  * in-process (same event loop as the test):  ``async with LoopbackCoreStore() as s``
  * another process (benchmarks, kill -9 runs): ``CoreStoreProcess().start()``, which
    runs this file as a script and talks to its control endpoints
    (``POST /_control/faults``, ``GET /_control/stats``, ``GET /_control/records``,
    ``POST /_control/reset``, ``POST /_control/plant``) with plain urllib.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import signal
import socket
import struct
import subprocess
import sys
import time
import urllib.request
from collections import Counter, deque
from dataclasses import dataclass
from functools import partial
from pathlib import Path

from aiohttp import web

from ratings.store import IDEMPOTENCY_HEADER, SIGNATURE_HEADER, signature_ok

DEFAULT_SECRET = b"loopback-core-store-secret"
RECORD_PATH = "/v1/evaluations"
_dumps = partial(json.dumps, ensure_ascii=False)
# The exchange's answer to a repeated (projectNo, assessNumber), as provincial systems word it.
DUPLICATE_WORDING = "评价信息重复提交：该办件编号的本次评价已存在"
BAD_GRADE_WORDING = "不满意评价须填写评价详情（evalDetail）或文字评价（writingEvaluation）"
CORRECTION_PATH = RECORD_PATH + "/corrections"
NO_ORIGINAL_WORDING = "更正失败：原评价不存在"


def slot_of(payload: dict) -> tuple[str, int]:
    """Where the exchange files a record: (projectNo, assessNumber)."""
    return str(payload.get("projectNo", "")), int(payload.get("assessNumber") or 0)


@dataclass
class Fault:
    kind: str  # "5xx" | "slow" | "reset" | "409" | "reject"
    status: int = 0
    seconds: float = 0.0
    after_store: bool = False
    reason: str = ""


def _record_problem(payload: object) -> str | None:
    """What the exchange would refuse in this record, or None."""
    if not isinstance(payload, dict):
        return "record is not a JSON object"
    for name in ("projectNo", "satisfaction", "assessTime", "assessNumber", "pf"):
        if payload.get(name) in (None, ""):
            return f"{name} missing"
    if payload["satisfaction"] not in (1, 2, 3, 4, 5):
        return "satisfaction must be 1..5"
    if payload["assessNumber"] not in (1, 2):
        return "assessNumber must be 1 or 2"
    if payload["satisfaction"] < 3 and not (str(payload.get("evalDetail") or "").strip()
                                            or str(payload.get("writingEvaluation")
                                                   or "").strip()):
        return BAD_GRADE_WORDING
    return None


class LoopbackCoreStore:
    def __init__(self, secret: bytes = DEFAULT_SECRET, host: str = "127.0.0.1", port: int = 0):
        self.secret = secret
        self.host = host
        self.port = port
        self.records: dict[str, dict] = {}  # idempotency key -> payload (ours and planted)
        self.slots: dict[tuple[str, int], str] = {}  # (projectNo, assessNumber) -> key
        self.duplicates: Counter[str] = Counter()  # key -> times it came again
        self.refused_repeats: Counter[str] = Counter()  # key refused: its slot was taken
        self.queries = 0
        self.query_supported = True
        self.requests = 0
        self.corrections: dict[str, dict] = {}  # idempotency key -> correction payload
        self.correction_slots: dict[tuple[str, int], str] = {}  # corrected slot -> key
        self.faults_served: Counter[str] = Counter()
        self._faults: deque[Fault] = deque()
        self._reject_keys: dict[str, tuple[str, int]] = {}
        self._fail_rate = 0.0
        self._latency = 0.0
        self._answering = asyncio.Event()  # cleared while hanging
        self._answering.set()
        self.hung = 0  # requests that waited in a hang
        self._rng = random.Random(0)
        self._runner: web.AppRunner | None = None

    # -- lifecycle -------------------------------------------------------
    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}{RECORD_PATH}"

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def app(self) -> web.Application:
        app = web.Application(client_max_size=1 << 20)
        app.router.add_post(RECORD_PATH, self._handle_record)
        app.router.add_get(RECORD_PATH, self._handle_query)
        app.router.add_post(CORRECTION_PATH, self._handle_correction)
        app.router.add_get("/_control/corrections", self._handle_corrections)
        app.router.add_post("/_control/plant", self._handle_plant)
        app.router.add_post("/_control/faults", self._handle_faults)
        app.router.add_post("/_control/reset", self._handle_reset)
        app.router.add_get("/_control/stats", self._handle_stats)
        app.router.add_get("/_control/records", self._handle_records)
        return app

    async def start(self) -> LoopbackCoreStore:
        self._runner = web.AppRunner(self.app(), handle_signals=False, access_log=None,
                                     shutdown_timeout=0.5)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port, backlog=1024)
        await site.start()
        self.port = self._runner.addresses[0][1]
        return self

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> LoopbackCoreStore:
        return await self.start()

    async def __aexit__(self, *exc) -> None:
        await self.stop()

    # -- fault API -------------------------------------------------------
    def fail_next(self, n: int, status: int = 503) -> None:
        self._faults.extend(Fault("5xx", status=status) for _ in range(n))

    def slow_next(self, n: int, seconds: float, after_store: bool = True) -> None:
        self._faults.extend(Fault("slow", seconds=seconds, after_store=after_store)
                            for _ in range(n))

    def reset_next(self, n: int, after_store: bool = False) -> None:
        self._faults.extend(Fault("reset", after_store=after_store) for _ in range(n))

    def conflict_next(self, n: int) -> None:
        self._faults.extend(Fault("409") for _ in range(n))

    def reject_next(self, n: int, reason: str = "invalid record", status: int = 422) -> None:
        self._faults.extend(Fault("reject", status=status, reason=reason) for _ in range(n))

    def reject_key(self, substring: str, reason: str = "invalid record",
                   status: int = 422) -> None:
        self._reject_keys[substring] = (reason, status)

    def fail_rate(self, p: float, seed: int = 0) -> None:
        self._fail_rate = p
        self._rng = random.Random(seed)

    def latency(self, seconds: float) -> None:
        self._latency = seconds

    def hang(self, on: bool = True) -> None:
        if on:
            self._answering.clear()
        else:
            self._answering.set()

    async def _wait_while_hanging(self) -> None:
        if not self._answering.is_set():
            self.hung += 1
            await self._answering.wait()

    def plant(self, payload: dict, key: str = "") -> str:
        """Store someone else's record (another system's), as if it had come first."""
        key = key or f"foreign:{len(self.records)}:{payload.get('projectNo')}"
        self.records[key] = dict(payload)
        self.slots[slot_of(payload)] = key
        return key

    def stored_at(self, project_no: str, assess_number: int = 1) -> dict | None:
        key = self.slots.get((project_no, assess_number))
        return self.records.get(key) if key else None

    def clear_faults(self) -> None:
        self._faults.clear()
        self._reject_keys.clear()
        self._fail_rate = 0.0
        self._latency = 0.0
        self._answering.set()

    def reset(self) -> None:
        self.clear_faults()
        self.records.clear()
        self.slots.clear()
        self.duplicates.clear()
        self.refused_repeats.clear()
        self.corrections.clear()
        self.correction_slots.clear()
        self.queries = 0
        self.query_supported = True
        self.faults_served.clear()
        self.requests = 0
        self.hung = 0

    def stats(self) -> dict:
        return {"stored": len(self.records), "duplicates": sum(self.duplicates.values()),
                "refused_repeats": sum(self.refused_repeats.values()),
                "requests": self.requests, "faults_served": dict(self.faults_served),
                "faults_pending": len(self._faults)}

    # -- the store -------------------------------------------------------
    async def _signed_post(self, request: web.Request, *, latency_and_rate: bool
                           ) -> tuple[str, object, Fault | None] | web.StreamResponse:
        """What every POST to the exchange goes through first: a hang, a queued fault,
        the signature, the Idempotency-Key and a JSON body. (key, payload, the fault
        that acts after storing), or the answer that ends the request. Ratings also
        meet the latency and the fail rate."""
        self.requests += 1
        body = await request.read()
        await self._wait_while_hanging()
        if latency_and_rate and self._latency:
            await asyncio.sleep(self._latency)
        fault = self._faults.popleft() if self._faults else None
        if fault is None and latency_and_rate and self._fail_rate and \
                self._rng.random() < self._fail_rate:
            fault = Fault("5xx", status=503)
        if fault is not None:
            self.faults_served[fault.kind] += 1
            early = await self._fault_before_store(request, fault)
            if early is not None:
                return early
        if not signature_ok(self.secret, body, request.headers.get(SIGNATURE_HEADER)):
            return web.json_response({"error": "bad signature"}, status=401)
        key = request.headers.get(IDEMPOTENCY_HEADER)
        if not key:
            return web.json_response({"error": f"{IDEMPOTENCY_HEADER} header required"},
                                     status=400)
        try:
            return key, json.loads(body), fault
        except ValueError:
            return web.json_response({"error": "body is not JSON"}, status=400)

    async def _after_store(self, request: web.Request, fault: Fault | None,
                           answer: web.StreamResponse) -> web.StreamResponse:
        """A fault that acts once the record is stored: a slow answer, or none at all."""
        if fault is not None and fault.after_store:
            if fault.kind == "slow":
                await asyncio.sleep(fault.seconds)
            elif fault.kind == "reset":
                return self._reset(request)
        return answer

    async def _handle_record(self, request: web.Request) -> web.StreamResponse:
        admitted = await self._signed_post(request, latency_and_rate=True)
        if isinstance(admitted, web.StreamResponse):
            return admitted
        key, payload, fault = admitted
        for substring, (reason, status) in self._reject_keys.items():
            if substring in key:
                return web.json_response({"error": reason}, status=status)
        problem = _record_problem(payload)
        if problem:
            return web.json_response({"error": problem}, status=422)
        slot = slot_of(payload)
        if key in self.records or slot in self.slots:
            if self.slots.get(slot) == key:
                self.duplicates[key] += 1
            else:
                self.refused_repeats[key] += 1
            answer = web.json_response({"error": DUPLICATE_WORDING}, status=409)
        else:
            self.records[key] = payload
            self.slots[slot] = key
            answer = web.json_response({"stored": key}, status=201)
        return await self._after_store(request, fault, answer)

    async def _fault_before_store(self, request: web.Request,
                                  fault: Fault) -> web.StreamResponse | None:
        if fault.kind == "5xx":
            return web.json_response({"error": "injected failure"}, status=fault.status)
        if fault.kind == "409":
            return web.json_response({"error": DUPLICATE_WORDING}, status=409)
        if fault.kind == "reject":
            return web.json_response({"error": fault.reason}, status=fault.status)
        if fault.kind == "slow" and not fault.after_store:
            await asyncio.sleep(fault.seconds)
        if fault.kind == "reset" and not fault.after_store:
            return self._reset(request)
        return None

    @staticmethod
    def _reset(request: web.Request) -> web.StreamResponse:
        """Abort the connection with a TCP RST: the client sees a reset, not an answer."""
        transport = request.transport
        if transport is not None:
            sock = transport.get_extra_info("socket")
            if sock is not None:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            transport.abort()
        # aiohttp cannot write to an aborted transport; this answer goes nowhere
        return web.Response(status=499)

    async def _handle_query(self, request: web.Request) -> web.Response:
        """What is stored under (projectNo, assessNumber): the exchange's record query."""
        self.queries += 1
        await self._wait_while_hanging()
        if not signature_ok(self.secret, request.rel_url.raw_query_string.encode(),
                            request.headers.get(SIGNATURE_HEADER)):
            return web.json_response({"error": "bad signature"}, status=401)
        if not self.query_supported:
            return web.json_response({"error": "not found"}, status=404)
        project_no = request.query.get("projectNo", "")
        try:
            assess_number = int(request.query.get("assessNumber", "1"))
        except ValueError:
            return web.json_response({"error": "assessNumber must be 1 or 2"}, status=400)
        key = self.slots.get((project_no, assess_number))
        if key is None:
            return web.json_response({"error": "未找到该评价"}, status=404)
        body = {"projectNo": project_no, "assessNumber": assess_number,
                "record": self.records[key]}
        if not key.startswith("foreign:"):  # a record another system sent has no key of ours
            body["idempotencyKey"] = key
        return web.json_response(body, dumps=_dumps)

    async def _handle_correction(self, request: web.Request) -> web.StreamResponse:
        """A correction of a stored rating (误评/恶意差评), once per corrected slot."""
        admitted = await self._signed_post(request, latency_and_rate=False)
        if isinstance(admitted, web.StreamResponse):
            return admitted
        key, payload, fault = admitted
        if not isinstance(payload, dict) or payload.get("correctionType") not in (1, 2) \
                or not str(payload.get("reason") or "").strip():
            return web.json_response({"error": "correctionType (1|2) and reason required"},
                                     status=422)
        slot = slot_of(payload)
        held = self.correction_slots.get(slot)
        if held is not None:
            if held == key:
                self.duplicates[key] += 1
            else:
                self.refused_repeats[key] += 1
            return web.json_response({"error": DUPLICATE_WORDING, "idempotencyKey": held,
                                      "record": self.corrections[held]}, status=409,
                                     dumps=_dumps)
        if slot not in self.slots:
            return web.json_response({"error": NO_ORIGINAL_WORDING}, status=422, dumps=_dumps)
        self.corrections[key] = payload
        self.correction_slots[slot] = key
        answer = web.json_response({"stored": key}, status=201)
        return await self._after_store(request, fault, answer)

    async def _handle_corrections(self, request: web.Request) -> web.Response:
        return web.json_response(self.corrections, dumps=_dumps)

    # -- control endpoints (for a store in another process) --------------
    async def _handle_plant(self, request: web.Request) -> web.Response:
        spec = await request.json()
        key = self.plant(spec["payload"], spec.get("key", ""))
        return web.json_response({"key": key})

    async def _handle_faults(self, request: web.Request) -> web.Response:
        spec = await request.json()
        for name, args in spec.items():
            if name not in ("fail_next", "slow_next", "reset_next", "conflict_next",
                            "reject_next", "reject_key", "fail_rate", "latency",
                            "hang", "clear_faults"):
                return web.json_response({"error": f"unknown fault {name}"}, status=400)
            getattr(self, name)(**(args or {}))
        return web.json_response(self.stats())

    async def _handle_reset(self, request: web.Request) -> web.Response:
        self.reset()
        return web.json_response(self.stats())

    async def _handle_stats(self, request: web.Request) -> web.Response:
        stats = self.stats()
        if request.query.get("keys"):
            stats["duplicate_keys"] = dict(self.duplicates)
        return web.json_response(stats)

    async def _handle_records(self, request: web.Request) -> web.Response:
        return web.json_response(self.records)


class CoreStoreProcess:
    """The loopback store in its own process; control and counts over HTTP."""

    def __init__(self, secret: bytes = DEFAULT_SECRET, port: int = 0):
        self.secret = secret
        self.port = port
        self.proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}{RECORD_PATH}"

    def start(self, timeout: float = 15.0) -> CoreStoreProcess:
        env = dict(os.environ, HCP_LOOPBACK_STORE_SECRET=self.secret.hex())
        self.proc = subprocess.Popen(
            [sys.executable, str(Path(__file__).resolve()), "--port", str(self.port)],
            stdout=subprocess.PIPE, env=env, text=True)
        deadline = time.monotonic() + timeout
        line = self.proc.stdout.readline()  # "READY <port>"
        if not line.startswith("READY") or time.monotonic() > deadline:
            self.stop()
            raise RuntimeError(f"loopback core store did not start: {line!r}")
        self.port = int(line.split()[1])
        return self

    def _call(self, method: str, path: str, body: dict | None = None) -> dict:
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(f"http://127.0.0.1:{self.port}{path}", data=data,
                                     method=method,
                                     headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=30) as answer:
            return json.loads(answer.read())

    def faults(self, **spec: dict) -> dict:
        return self._call("POST", "/_control/faults", spec)

    def stats(self, keys: bool = False) -> dict:
        return self._call("GET", "/_control/stats" + ("?keys=1" if keys else ""))

    def records(self) -> dict:
        return self._call("GET", "/_control/records")

    def reset(self) -> dict:
        return self._call("POST", "/_control/reset", {})

    def plant(self, payload: dict, key: str = "") -> str:
        return self._call("POST", "/_control/plant", {"payload": payload, "key": key})["key"]

    def stop(self) -> None:
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self.proc.stdout:
            self.proc.stdout.close()
        self.proc = None

    def __enter__(self) -> CoreStoreProcess:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


async def _serve(port: int, secret: bytes) -> None:
    store = await LoopbackCoreStore(secret=secret, port=port).start()
    print(f"READY {store.port}", flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    await store.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description="loopback core rating store")
    parser.add_argument("--port", type=int, default=0)
    args = parser.parse_args()
    secret_hex = os.environ.get("HCP_LOOPBACK_STORE_SECRET")
    secret = bytes.fromhex(secret_hex) if secret_hex else DEFAULT_SECRET
    asyncio.run(_serve(args.port, secret))


if __name__ == "__main__":
    main()
