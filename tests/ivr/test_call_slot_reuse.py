"""Regression (issue 11, part 1): a finished call must never hang up the next caller.

pjsua reuses a call slot (call id) as soon as a call is DISCONNECTED. The pjsua2
``Call`` destructor hangs up "its" call id and clears the slot's user data, so a
``Call`` object freed *after* its slot was reused cut off the next caller on that
slot (a BYE out of nowhere) and left the new call deaf to pjsua (a stuck call).

One worker, 4 calls at a time, two kinds of callers mixed at once (two SIPp runs,
2 calls each, back to back so every slot is reused the moment it frees):

* short: the caller hangs up mid-prompt (after 50–900 ms); the IVR has no reason to
  send a BYE, so every BYE it sends to such a caller is a caller cut off;
* long: the caller presses "1" and waits for the IVR to end the call after its
  thank-you; such a call must end rated (or duplicate: same caller, no ticket).

Counted: BYEs received by the short callers (SIPp's message log), long calls whose
worker outcome is not rated/duplicate (the worker's ``call … ended:`` lines), calls
never ended (stuck), and the time from SIGTERM to the worker's exit.
``HCP_SLOT_REUSE_CALLS`` changes the total (default 400: 250 short, 150 long).
"""

from __future__ import annotations

import os
import re
import signal
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from tests.ivr.sipp import WorkerProcess, build_scenario
from tests.ivr_pool.harness import SHORT_FLOW, run_sipp_calls

# One xdist worker runs every "realtime" module in turn (scripts/test: --dist loadgroup):
# the SIP floods and call storms must not overlap the tests that time what a caller hears.
pytestmark = pytest.mark.xdist_group("realtime")

CALLS = int(os.environ.get("HCP_SLOT_REUSE_CALLS", "400"))
_BYE_RECEIVED = re.compile(r"message received \[\d+\] bytes :\s*\n\s*BYE [^\n]*\n"
                           r"(?:[^\n]+\n)*?Call-ID:\s*(\S+)", re.MULTILINE)
_ENDED = re.compile(r"call (\S+) ended: (\w+)")


def _vary(path, low: int, high: int):
    """The first pause (301 ms in the parts) becomes uniform in [low, high] ms."""
    xml = path.read_text().replace(
        '<pause milliseconds="301"/>',
        f'<pause distribution="uniform" min="{low}" max="{high}"/>', 1)
    path.write_text(xml)
    return path


def short_caller(workdir):
    """Hangs up while the first prompt plays."""
    workdir.mkdir(exist_ok=True)
    return _vary(build_scenario([("pause", 301), ("bye",)], workdir), 50, 900)


def long_caller(workdir):
    """Rates with "1" and lets the IVR hang up after its thank-you."""
    workdir.mkdir(exist_ok=True)
    return _vary(build_scenario([("pause", 301), ("key", "1"), ("wait_bye", 20000)], workdir),
                 50, 600)


def sipp_pid(call_id: str) -> str:
    """SIPp's Call-ID is ``<number>-<pid>@<ip>``: which SIPp run placed the call."""
    return call_id.split("@", 1)[0].rsplit("-", 1)[-1]


@pytest.mark.slow  # 400 calls, ~3 minutes
@pytest.mark.timeout(900)
def test_no_caller_is_cut_off_when_call_slots_are_reused(redis_url, ivr_data_dir, sipp_dir):
    worker = WorkerProcess(redis_url, ivr_data_dir, ["--no-prerender", "--flow", SHORT_FLOW],
                           env={"PYTHONFAULTHANDLER": "1"}).start()
    half = CALLS * 5 // 8  # short calls; the long ones take ~2.7 s each
    try:
        with ThreadPoolExecutor(2) as pool:
            short = pool.submit(run_sipp_calls, short_caller(sipp_dir / "short"),
                                worker.sip_port, sipp_dir / "short", calls=half, rate=20,
                                limit=2, timeout_s=120 + half)
            long = pool.submit(run_sipp_calls, long_caller(sipp_dir / "long"),
                               worker.sip_port, sipp_dir / "long", calls=CALLS - half,
                               rate=20, limit=2, timeout_s=120 + 3 * (CALLS - half))
            short, long = short.result(), long.result()
        # every call ends in the worker (its outcome is written after the hang-up)
        deadline = time.monotonic() + 30
        while len(_ENDED.findall(worker.log())) < CALLS and time.monotonic() < deadline:
            time.sleep(0.2)
        log = worker.log()
        ended = dict(_ENDED.findall(log))
        assert "Fatal Python error" not in log, log[-4000:]
        assert worker.proc.poll() is None, log[-4000:]

        cut_short = len(set(_BYE_RECEIVED.findall(short.messages)))  # callers, not resends
        long_pid = {sipp_pid(m) for m in re.findall(r"^\s*Call-ID: (\S+)", long.messages,
                                                      re.MULTILINE)}
        long_ends = {cid: outcome for cid, outcome in ended.items() if sipp_pid(cid) in long_pid}
        cut_long = sorted(cid for cid, outcome in long_ends.items()
                          if outcome not in ("rated", "duplicate"))
        stuck = CALLS - len(ended)
        report = (f"short callers cut off by a BYE from the IVR: {cut_short}; long calls "
                  f"not rated: {len(cut_long)} {cut_long[:5]}; stuck (never ended): {stuck}\n"
                  f"short: {short.output[-1500:]}\nlong: {long.output[-1500:]}")
        print(report)
        assert (cut_short, cut_long, stuck) == (0, [], 0), report
        assert short.returncode == 0 and long.returncode == 0, report
    finally:
        started = time.monotonic()
        worker.proc.send_signal(signal.SIGTERM)
        try:
            worker.proc.wait(60)
        except Exception:
            pass
        shutdown_s = time.monotonic() - started
        code = worker.stop()
        print(f"worker shutdown after SIGTERM: {shutdown_s:.1f} s (exit {code})")
    assert shutdown_s < 10, f"shutdown took {shutdown_s:.1f} s"
    assert code == 0, worker.log()[-3000:]
