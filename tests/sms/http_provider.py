"""A loopback cloud-SMS provider: a real aiohttp server that checks our signature,
records each send, can throttle or fail on purpose, and posts signed callbacks."""

from __future__ import annotations

import json

import aiohttp
from aiohttp import web

from adapters.redis_server import free_port
from adapters.sms_http import SEND_PATH, SignatureCheck, signed_headers

KEY, SECRET = "AK-test", "provider-secret"
CB_KEY, CB_SECRET = "CB-test", "callback-secret"


class LoopbackProvider:
    def __init__(self):
        self.port = free_port()
        self.sent: list[dict] = []
        self.refused: list[str] = []
        self.fail_next: list[tuple[int, dict]] = []  # (HTTP status, JSON body)
        self.check = SignatureCheck(KEY, SECRET)
        self.runner: web.AppRunner | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def start(self) -> LoopbackProvider:
        app = web.Application()
        app.router.add_post(SEND_PATH, self._send)
        self.runner = web.AppRunner(app)
        await self.runner.setup()
        await web.TCPSite(self.runner, "127.0.0.1", self.port).start()
        return self

    async def stop(self) -> None:
        if self.runner:
            await self.runner.cleanup()

    async def _send(self, request: web.Request) -> web.Response:
        body = await request.read()
        refused = self.check.verify("POST", request.path, request.headers, body)
        if refused:
            self.refused.append(refused)
            return web.json_response({"Code": "SignatureDoesNotMatch"}, status=400)
        if self.fail_next:
            status, payload = self.fail_next.pop(0)
            return web.json_response(payload, status=status,
                                     headers={"Retry-After": "7"} if status == 429 else None)
        data = json.loads(body)
        for field in ("PhoneNumbers", "SignName", "TemplateCode", "TemplateParam", "OutId"):
            if not data.get(field):
                return web.json_response({"Code": "isv.MISSING_PARAMETERS"})
        biz_id = f"BIZ{len(self.sent) + 1}"
        self.sent.append(dict(data, BizId=biz_id))
        return web.json_response({"Code": "OK", "Message": "OK", "BizId": biz_id})

    async def callback(self, url: str, items: list[dict], secret: str = CB_SECRET,
                       key: str = CB_KEY, headers: dict | None = None) -> tuple[int, dict]:
        body = json.dumps(items, ensure_ascii=False).encode()
        path = "/" + url.split("/", 3)[3]
        signed = headers or signed_headers(key, secret, "POST", path, body)
        async with aiohttp.ClientSession() as session:
            async with session.post(url, data=body, headers=signed) as resp:
                return resp.status, await resp.json()
