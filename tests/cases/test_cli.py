"""``hcp cases``: the steps of points 5 and 6 from the shell, as a real child process
against the real Redis, and the correction sent to the loopback exchange over HTTP."""

from __future__ import annotations

import asyncio
import json
import os
from pathlib import Path

from ratings.intake import Intake
from tests.cases.conftest import T0, bad_ev
from tests.submitter.conftest import Running, fast_submitter, outbox_empty, wait_for
from tests.support.corestore import DEFAULT_SECRET

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "hcp"


async def hcp(env: dict, *args: str) -> tuple[int, str, str]:
    proc = await asyncio.create_subprocess_exec(
        str(SCRIPT), "cases", *args, cwd="/", env=env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await asyncio.wait_for(proc.communicate(), 60)
    return proc.returncode, out.decode(), err.decode()


async def test_the_exclusion_path_from_the_shell(aredis, redis_url, store, http_store,
                                                 tmp_path):
    ev = bad_ev("GD-77")
    assert (await Intake(aredis, phone_secret=b"s", clock=lambda: T0).accept(ev)).accepted
    async with Running(fast_submitter(aredis, http_store)):
        await wait_for(lambda: outbox_empty(aredis))
    env = {**os.environ, "HCP_REDIS_URL": redis_url, "HCP_DATA_DIR": str(tmp_path),
           "HCP_CORE_URL": store.url, "HCP_CORE_HMAC_SECRET": DEFAULT_SECRET.decode()}
    code, out, err = await hcp(env, "move", ev.id, "pending_callback", "called_back",
                               "--by", "zhang", "--note", "回访：市民称按错键",
                               "--verification", "untrue")
    assert code == 0, err
    assert json.loads(out)["case"]["next"] == ["unfounded", "mistaken", "malicious"]
    code, out, err = await hcp(env, "request-exclusion", ev.id, "--by", "zhang",
                               "--kind", "mistaken", "--finding", "市民称按错键，实际满意")
    assert code == 0, err
    code, out, err = await hcp(env, "approve-exclusion", ev.id, "--by", "zhang")
    assert code == 1 and "same_supervisor" in err and not store.corrections
    code, out, err = await hcp(env, "approve-exclusion", ev.id, "--by", "li")
    assert code == 0, err
    answer = json.loads(out)
    assert answer["case"]["status"] == "mistaken" and answer["corrections"]["sent"] == 1
    [sent] = store.corrections.values()
    assert sent["projectNo"] == "GD-77" and sent["correctionType"] == 1
    code, out, err = await hcp(env, "show", ev.id, "--json")
    assert code == 0, err
    shown = json.loads(out)
    assert shown["case"]["correction_status"].startswith("sent")
    assert "13812345678" not in out and shown["case"]["phone_masked"] == "138****5678"
    approval = next(h for h in shown["log"] if h.get("step") == "approve_exclusion")
    assert approval["by"] == "li" and approval["via"].startswith("cli ")
    assert approval["requested_by"] == "zhang"
    code, out, err = await hcp(env, "list", "--status", "all")
    assert code == 0 and ev.id in out and "误评" in out
