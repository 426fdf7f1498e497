"""Flows: list, diagram, lint issues, version history with diff, simulator."""

from __future__ import annotations

import asyncio
import json
import re
from dataclasses import asdict, dataclass
from datetime import datetime, timezone

from aiohttp import web

from console import flow_catalog, keys
from console.html import card, e, page, table, url
from flows import effects as fx
from ivr.context import AGENT, ContextMapping, context_from_invite
from flows.simulate import Simulator, SimulatorError

# A simulator session is its inputs, kept in Redis (console.keys.simulator): each request
# rebuilds the simulator by replaying them (the engine and the simulator's clock are
# deterministic), so a session works whichever gateway process answers (issue 15).
SIM_INPUTS_MAX = 200  # input lines of one session; a longer one starts again
# The call context fields of the simulator (issue 13 point 7): what a PBX hands the IVR
# in the INVITE. The console writes them into an INVITE as those headers and reads it
# back with the IVR's own ivr.context (console.ivr_context_map, else the default mapping
# hcp serve's IVR pool uses):
# the same spellings of a language, the same refusal of phone-like ids.
SIM_HEADERS = (("ticket", "X-Ticket-Id"), ("agent", "X-Agent-Id"), ("lang", "X-Language"))
SIM_FIELD = re.compile(r"^[\w.:/@+\-\u4e00-\u9fff]{0,64}$")
# what a messaging flow's texts name (the SMS channel fills them from the evaluation)
SIM_DISPLAY = {"item_name": "不动产登记", "reply_code": "A3"}


def no_such_flow(flow_id: str) -> web.HTTPNotFound:
    return web.HTTPNotFound(text=f"没有名为“{flow_id[:80]}”的流程。请从流程列表进入。")


def _grammar():
    try:
        import sms.grammar as grammar
    except ModuleNotFoundError:  # pragma: no cover - the SMS area is part of the project
        return None
    return grammar


async def flows_list(request: web.Request) -> web.Response:
    rows = []
    for flow_id, (flow, _text) in sorted((await flow_catalog.ashipped()).items()):
        issues = await flow_catalog.issues(flow)
        kind = "语音 voice" if flow.type == "voice" else "短信 messaging"
        rows.append([f'<a href="/console/flows/{e(flow_id)}">{e(flow.name)}</a>'
                     f'<div class="sub">{e(flow_id)}</div>', kind,
                     f"<code>{e(flow.version[:12])}</code>", e(", ".join(flow.languages)),
                     str(len(flow.nodes)),
                     f'<span class="pill {"warn" if issues else "ok"}">{len(issues)}</span>'])
    body = card("已发布流程 Shipped flows", table(
        ["名称 Name", "类型 Type", "版本 Version", "语言 Languages", "节点 Nodes",
         "审查意见 Review issues"], rows))
    return page(request, "流程 Flows", body, "/console/flows")


async def flow_detail(request: web.Request) -> web.Response:
    flow_id = request.match_info["flow_id"]
    found = (await flow_catalog.ashipped()).get(flow_id)
    if found is None:
        raise no_such_flow(flow_id)
    flow, _text = found
    picture, is_svg = await flow_catalog.diagram(flow)
    drawing = (f'<div class="diagram">{picture}</div>' if is_svg
               else f'<pre class="mermaid-src">{e(picture)}</pre>')
    issues = await flow_catalog.issues(flow)
    issue_rows = [[f"<code>{e(i.node)}</code>", f'<span class="pill {i.severity}">'
                   f'{e(i.severity)}</span>', f"<code>{e(i.code)}</code>", e(i.message)]
                  for i in issues]
    versions = await flow_catalog.versions(request.app["redis"], flow_id)
    vrows = []
    for n, v in enumerate(versions):
        when = (datetime.fromtimestamp(v.first_seen, timezone.utc).strftime("%Y-%m-%d %H:%M")
                if v.first_seen else "—")
        marks = []
        if v.shipped:
            marks.append('<span class="pill ok">当前 shipped</span>')
        if v.in_stats:
            marks.append('<span class="pill">有统计 in stats</span>')
        if not v.kept and not v.shipped:
            marks.append('<span class="pill warn">定义未保存 definition not kept</span>')
        links = []
        if n > 0:
            href = url(f"/console/flows/{flow_id}/diff", a=versions[n - 1].version,
                       b=v.version)
            links.append(f'<a href="{e(href)}">与上一版比较 diff</a>')
        if v.in_stats:
            links.append(f'<a href="{url("/console/funnel", flow=flow_id, v=v.version)}">'
                         "漏斗 funnel</a>")
        vrows.append([f"<code>{e(v.version[:12])}</code>", e(when), " ".join(marks),
                      " · ".join(links)])
    body = (
        f'<p class="lead">{e(flow.definition.get("description", ""))} · 类型 '
        f'{e(flow.type)} · 起始节点 <code>{e(flow.start_node)}</code> · '
        f'<a class="button" href="/console/flows/{e(flow_id)}/simulate">模拟运行 Simulate</a></p>'
        + card("流程图 Diagram", drawing)
        + card(f"审查意见 Review issues ({len(issues)})",
               table(["节点 Node", "级别", "代码 Code", "说明 Message"], issue_rows))
        + card("版本历史 Version history",
               table(["版本 Version", "首次出现 First seen (UTC)", "", ""], vrows)))
    return page(request, f"流程 · {flow.name}", body, "/console/flows")


async def flow_diff(request: web.Request) -> web.Response:
    flow_id = request.match_info["flow_id"]
    redis = request.app["redis"]
    a, b = request.query.get("a", ""), request.query.get("b", "")
    old = await flow_catalog.load_version(redis, flow_id, a)
    new = await flow_catalog.load_version(redis, flow_id, b)
    if old is None or new is None:
        body = card("差异 Diff", '<p class="empty">该版本的定义未保存，无法比较。'
                    "The definition of this version was not kept.</p>")
    else:
        lines = (await flow_catalog.diff_lines(old, new)
                 or ["两个版本相同 The versions are the same."])
        body = card(f"<code>{e(a[:12])}</code> → <code>{e(b[:12])}</code>",
                    '<pre class="diff">' + "\n".join(_marks(e(x)) for x in lines) + "</pre>"
                    + '<p class="hint"><del>删除 removed</del> <ins>新增 added</ins></p>')
    return page(request, f"流程差异 · {flow_id}", body, "/console/flows")


def _marks(escaped: str) -> str:
    """flows.diff's ``[-removed-]{+added+}`` marks as <del>/<ins> (text already escaped)."""
    escaped = re.sub(r"\[-(.*?)-\]", r"<del>\1</del>", escaped)
    return re.sub(r"\{\+(.*?)\+\}", r"<ins>\1</ins>", escaped)


# -- the simulator -----------------------------------------------------------------

class ConsoleSimulator(Simulator):
    """The CLI simulator, keeping the Play effects so the browser can hear them."""

    def __post_init__(self):
        super().__post_init__()
        self.plays: list[fx.Play] = []

    def _seen(self, effects):  # also the prompts after a submission's answer
        self.plays.extend(x for x in effects if isinstance(x, fx.Play))


@dataclass
class SimState:
    """What a simulator session is: the flow version it ran, its language and context,
    and every input line fed so far."""

    version: str
    lang: str | None
    context: dict[str, str]
    shown: dict[str, str]
    inputs: list[str]

    def replay(self, flow) -> ConsoleSimulator:
        sim = ConsoleSimulator(flow, _grammar(), lang=self.lang, context=self.context)
        sim.begin()
        for line in self.inputs:
            sim.feed(line)
        return sim


def _sim_key(request, flow_id: str) -> str:
    return keys.simulator(request.cookies.get("hcp_console", ""), flow_id)


async def _load_sim(request, flow_id: str) -> SimState | None:
    raw = await request.app["redis"].get(_sim_key(request, flow_id))
    return SimState(**json.loads(raw)) if raw else None


async def _save_sim(request, flow_id: str, state: SimState) -> None:
    await request.app["redis"].set(_sim_key(request, flow_id),
                                   json.dumps(asdict(state), ensure_ascii=False),
                                   ex=keys.SIMULATOR_TTL_S)


async def simulate_page(request: web.Request) -> web.Response:
    flow_id = request.match_info["flow_id"]
    found = (await flow_catalog.ashipped()).get(flow_id)
    if found is None:
        raise no_such_flow(flow_id)
    flow = found[0]
    voice = flow.type == "voice"
    hint = ("按键输入 0-9 * #，或 <code>wait 6s</code>、<code>record 5s</code>、<code>hangup</code>"
            if voice else "输入短信回复内容，或 <code>wait 2d</code>、<code>hangup</code>")
    keypad = ""
    if voice:
        keys = "".join(f'<button type="button" class="key" data-key="{k}">{k}</button>'
                       for k in "123456789*0#")
        keypad = f'<div class="keypad">{keys}</div>'
    langs = '<option value="">未指定 none</option>' + "".join(
        f'<option value="{e(x)}">{e(x)}</option>' for x in flow.languages)
    context = ""
    if voice:
        context = "".join(
            f'<label>{label} <input id="sim-{name}" autocomplete="off" '
            f'placeholder="{hint}"></label>'
            for name, label, hint in (("ticket", "工单号 Ticket", "12345 工单号"),
                                      ("agent", "话务员 Agent", "工号 agent id"),
                                      ("trunk", "中继 Trunk", "被叫号码 dialled")))
    body = f"""
<div class="sim" data-flow="{e(flow_id)}">
  <div class="sim-controls">
    <label>语言 Language <select id="sim-lang">{langs}</select></label>{context}
    <button type="button" class="button" id="sim-start">开始 / 重新开始 Start</button>
  </div>
  <p class="hint">{"来电上下文按 IVR 的规则读取（与 INVITE 中的 X-Ticket-Id、X-Agent-Id、"
                   "X-Language 相同）：给出话务员工号时流程会询问是否评价话务员。"
                   if voice else ""}</p>
  <div class="sim-grid">
    <div>
      <div id="sim-log" class="sim-log" aria-live="polite"></div>
      <form id="sim-form" class="sim-input">
        <input id="sim-text" autocomplete="off"
          placeholder="{'按键 keys' if voice else '短信回复 SMS reply'}">
        <button class="button">发送 Send</button>
      </form>
      <p class="hint">{hint}。模拟不写入任何评价。The simulator records nothing.</p>
    </div>
    <div>{keypad}<audio id="sim-audio" controls></audio>
      <div class="sub">节点 node: <code id="sim-node">—</code> ·
        状态 status: <code id="sim-status">—</code></div>
    </div>
  </div>
</div>"""
    return page(request, f"模拟运行 · {flow.name}", card("模拟器 Simulator", body),
                "/console/flows")


async def simulate_api(request: web.Request) -> web.Response:
    """POST {flow, action: start|input, text, lang} → {lines, audio: [urls], node, status}."""
    # too deep or a lone surrogate: refused before (gateway.http_api.json_body_middleware)
    try:
        data = await request.json()
    except ValueError:  # not JSON (UnicodeDecodeError and JSONDecodeError are ValueErrors)
        return web.json_response({"error": "请求内容不是 JSON (the body is not JSON)"}, status=400)
    if not isinstance(data, dict):
        return web.json_response({"error": "请求内容须为 JSON 对象 (a JSON object)"}, status=400)
    flow_id = str(data.get("flow", ""))
    found = (await flow_catalog.ashipped()).get(flow_id)
    if found is None:
        return web.json_response({"error": "没有这个流程 (no such flow)"}, status=404)
    flow, version = found
    try:
        if data.get("action") == "start":
            try:
                context = call_context(data, request.app["sim_context"])
            except ValueError as exc:
                return web.json_response({"error": str(exc)}, status=400)
            lang = context.get("lang")
            if lang not in flow.languages:
                lang = None
            shown = {k: v for k, v in context.items() if k not in SIM_DISPLAY}
            state = SimState(version, lang, context, shown, [])
            sim = ConsoleSimulator(flow, _grammar(), lang=lang, context=context)
            start_at = 0
            lines = ["context: " + (" ".join(f"{k}={v}" for k, v in sorted(shown.items()))
                                    or "(none: context_missing)")] + sim.begin()
        else:
            state = await _load_sim(request, flow_id)
            if state is None or state.version != version:
                why = "先点击开始 start first" if state is None else \
                    "流程已更新，请重新开始 the flow changed: start again"
                return web.json_response({"error": why}, status=409)
            if len(state.inputs) >= SIM_INPUTS_MAX:
                return web.json_response({"error": "输入过多，请重新开始 too many inputs: "
                                                   "start again"}, status=409)
            sim = await asyncio.to_thread(state.replay, flow)
            start_at = len(sim.plays)
            line = str(data.get("text", ""))[:500]
            lines = sim.feed(line)
            state.inputs.append(line)
    except SimulatorError as exc:
        return web.json_response({"error": str(exc)}, status=400)
    await _save_sim(request, flow_id, state)
    audio = [f"/console/api/simulate/audio/{e(flow_id)}/{n}"
             for n in range(start_at, len(sim.plays))]
    return web.json_response({"lines": lines, "audio": audio,
                              "node": sim.session.node if sim.session else "",
                              "status": sim.session.status if sim.session else "",
                              "ended": sim.ended})


def call_context(data: dict, mapping: ContextMapping | None = None) -> dict[str, str]:
    """The flow's context for a simulated call, as the IVR builds it (with ``mapping``,
    ``console.ivr_context_map``) from an INVITE carrying the form's ticket, agent and
    language, sent to the trunk's number."""
    values = {}
    for name in ("ticket", "agent", "lang", "trunk"):
        value = data.get(name) or ""
        if not isinstance(value, str) or not SIM_FIELD.match(value.strip()):
            raise ValueError(f"{name} 只能是 64 个以内的字母、数字或汉字 (letters and digits)")
        values[name] = value.strip()
    dialled = values["trunk"] or "12345"
    raw = "".join([f"INVITE sip:{dialled}@console-simulator SIP/2.0\r\n"]
                  + [f"{header}: {values[name]}\r\n" for name, header in SIM_HEADERS
                     if values[name]] + ["\r\n"])
    context = context_from_invite(raw, mapping or ContextMapping())
    if context.get(AGENT):  # the flows call the agent the staff member (ivr.worker)
        context.setdefault("staff_id", context[AGENT])
    if values["trunk"]:
        context["trunk"] = values["trunk"]
    return {**SIM_DISPLAY, **context}


async def simulate_audio(request: web.Request) -> web.StreamResponse:
    flow_id, n = request.match_info["flow_id"], int(request.match_info["n"])
    found = (await flow_catalog.ashipped()).get(flow_id)
    state = await _load_sim(request, flow_id)
    sim = None
    if found is not None and state is not None and state.version == found[1]:
        sim = await asyncio.to_thread(state.replay, found[0])
    if sim is None or not 0 <= n < len(sim.plays):
        raise web.HTTPNotFound(text="没有这段提示音：请重新开始模拟。")
    play = sim.plays[n]
    library = request.app["prompts"]
    try:
        audio = await library.aresolve(play.text, play.lang, play.audio)
    except Exception as exc:  # espeak-ng missing or failing: say so, the text is shown anyway
        raise web.HTTPServiceUnavailable(
            text=f"提示音暂时无法生成（{type(exc).__name__}），文字已显示。") from None
    return web.FileResponse(audio.path, headers={"Content-Type": "audio/wav",
                                                 "Cache-Control": "no-store"})
