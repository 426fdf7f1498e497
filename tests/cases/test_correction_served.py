"""The exclusion path end to end on a running gateway (issue 10 point 5): a bad rating
posted over HTTP, its case called back and verified 不属实, the exclusion requested by
one supervisor and approved by another with ``hcp cases`` (as an operator types it),
and ``hcp serve``'s own correction sender reporting it to the exchange, once."""

from __future__ import annotations

import asyncio
import subprocess

import aiohttp

from tests.chaos.harness import gateway
from tests.e2e_ivr.harness import hcp_command
from tests.ivr.sipp import REPO

RATING = {"target": {"kind": "item", "id": "GD-EXCL-1"}, "grade": "very_dissatisfied",
          "reasons": ["attitude"], "phone": "13812345678"}


def hcp_cases(gw, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([*hcp_command(), "cases", *args], cwd=REPO, env=gw.env(),
                          capture_output=True, text=True, timeout=60)


async def test_an_approved_exclusion_reaches_the_exchange_from_the_running_gateway(
        tmp_path, store):
    gw = await gateway(tmp_path / "gw", store.url).start()
    try:
        async with aiohttp.ClientSession() as session:
            async with session.post(f"{gw.base_url}/v1/evaluations", json=RATING,
                                    headers=gw.auth) as resp:
                assert resp.status == 201, await resp.text()
                ev_id = (await resp.json())["id"]
        for _ in range(200):  # stored at the exchange, its case opened
            if store.records and hcp_cases(gw, "show", ev_id).returncode == 0:
                break
            await asyncio.sleep(0.1)
        steps = [("move", ev_id, "pending_callback", "called_back", "--by", "zhang",
                  "--verification", "untrue", "--note", "回访核实：市民称按错键"),
                 ("request-exclusion", ev_id, "--by", "zhang", "--kind", "mistaken",
                  "--finding", "回访核实：市民称按错键"),
                 ("approve-exclusion", ev_id, "--by", "zhang", "--no-send"),  # not twice
                 ("approve-exclusion", ev_id, "--by", "li", "--no-send")]
        answers = [hcp_cases(gw, *step) for step in steps]
        assert [a.returncode for a in answers] == [0, 0, 1, 0], [a.stderr for a in answers]
        assert "13812345678" not in "".join(a.stdout + a.stderr for a in answers)
        for _ in range(200):  # the gateway's sender, not the CLI, sends it
            if store.corrections:
                break
            await asyncio.sleep(0.1)
        [correction] = store.corrections.values()
        assert correction["projectNo"] == "GD-EXCL-1" and correction["correctionType"] == 1
        for _ in range(50):  # the sender records the exchange's answer on the case
            shown = hcp_cases(gw, "show", ev_id, "--json").stdout
            if '"correction_status": "sent' in shown:
                break
            await asyncio.sleep(0.1)
        assert '"correction_status": "sent' in shown, shown
    finally:
        gw.kill()
