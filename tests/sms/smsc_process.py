"""Run adapters.sms_smpp_loopback as a child process and talk to it over its pipes."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from pathlib import Path

from adapters.redis_server import free_port

REPO = Path(__file__).resolve().parents[2]


class SmscProcess:
    def __init__(self, *args: str):
        self.args = args
        self.port = free_port()
        self.proc: asyncio.subprocess.Process | None = None
        self.events: asyncio.Queue[dict] = asyncio.Queue()
        self._reader: asyncio.Task | None = None

    async def start(self) -> SmscProcess:
        env = dict(os.environ, PYTHONPATH=str(REPO))
        self.proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "adapters.sms_smpp_loopback", "--port", str(self.port),
            *self.args, stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
            env=env, cwd=REPO, limit=1 << 20)
        self._reader = asyncio.create_task(self._read())
        await self.wait_for("ready", timeout=15)
        return self

    async def _read(self) -> None:
        assert self.proc and self.proc.stdout
        while line := await self.proc.stdout.readline():
            await self.events.put(json.loads(line))

    async def wait_for(self, kind: str, timeout: float = 10) -> dict:
        async def find():
            while True:
                event = await self.events.get()
                if event["event"] == kind:
                    return event
        return await asyncio.wait_for(find(), timeout)

    async def command(self, **cmd) -> None:
        assert self.proc and self.proc.stdin
        self.proc.stdin.write((json.dumps(cmd, ensure_ascii=False) + "\n").encode())
        await self.proc.stdin.drain()

    async def stats(self) -> dict:
        await self.command(stats=True)
        return await self.wait_for("stats")

    async def kill(self) -> None:
        if self.proc and self.proc.returncode is None:
            self.proc.kill()
            await self.proc.wait()
        if self._reader:
            self._reader.cancel()
            try:
                await self._reader
            except asyncio.CancelledError:
                pass
