"""``hcp prompts …``: prompt audio of the flows.

  hcp prompts render [--flow F …] [--rate 8000|16000] [--out DIR] [--data-dir DIR]
      every spoken text of every voice flow (all languages; one variant per grade
      for texts naming the chosen grade) into the audio cache <data>/prompts/, so
      the first call does not wait for espeak-ng. A recorded WAV the flow names
      (``audio:``, relative to the flow file) wins over speech. Texts that name call
      context ({item_name} …) are listed and left to call time. --out also copies
      every WAV under a readable name, with an index (prompts.tsv), for listening.
"""

from __future__ import annotations

import shutil
import sys
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from adapters.tts import RATES, RECORDED, PromptCache, TtsError
from flows.loader import FlowError, resolve, shipped_paths
from flows.model import Flow
from flows.prompt_texts import SpokenText, spoken_texts


def register(subparsers) -> None:
    prompts = subparsers.add_parser("prompts", help="prompt audio of the flows")
    sub = prompts.add_subparsers(dest="prompts_command", required=True)
    render = sub.add_parser("render", help="render every prompt text to WAV (espeak-ng)")
    render.add_argument("--flow", action="append", default=[],
                        help="flow file or shipped id/stem (repeat); default: all shipped")
    render.add_argument("--rate", type=int, choices=RATES, default=8000,
                        help="sample rate of the WAVs (8000 for the telephone bridge)")
    render.add_argument("--out", help="also copy the WAVs here under readable names")
    render.add_argument("--data-dir", help="data dir holding the cache (default: from the "
                        "configuration, HCP_DATA_DIR or ./data)")
    render.add_argument("--config", help="TOML settings file for the data dir")
    render.set_defaults(func=cmd_render)


@dataclass
class Rendered:
    flow: Flow
    item: SpokenText
    path: Path | None  # None: needs call context
    source: str = ""
    rendered: bool = False


def export_name(item: SpokenText) -> str:
    """A readable file name: ``ask_grade.prompt.yue.wav``, ``confirm_grade.prompt.en.
    dissatisfied.wav`` (the grade the text names)."""
    parts = [item.prompt_id, item.lang]
    if item.variant:
        parts.append(item.variant.replace("staff_grade=", "staff-").replace("grade=", "")
                     .replace(",", "."))
    return ".".join(parts) + ".wav"


def render_flows(flows: list[Flow], cache: PromptCache, progress: bool | None = None
                 ) -> list[Rendered]:
    """Render every spoken text of ``flows`` into ``cache``; one row per text."""
    from tqdm import tqdm

    todo = [(flow, item) for flow in flows for item in spoken_texts(flow)]
    out = []
    # disable=None: a bar on a terminal, nothing in logs and pipes
    bar = tqdm(todo, desc="prompts", unit="prompt", disable=None if progress is None
               else not progress, file=sys.stderr)
    for flow, item in bar:
        if not item.renderable:
            out.append(Rendered(flow, item, None))
            continue
        wav = cache.prompt(item.text, item.lang, item.audio, flow.base_dir)
        out.append(Rendered(flow, item, wav.path, wav.source, wav.rendered))
    return out


def export(rows: list[Rendered], out_dir: Path) -> Path:
    """Copy the WAVs to ``<out>/<flow id>/<name>.wav`` and write ``prompts.tsv``."""
    index = ["flow\tprompt\tlang\tvariant\tsource\tfile\ttext"]
    for row in rows:
        if row.path is None:
            continue
        name = Path(row.flow.id) / export_name(row.item)
        (out_dir / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(row.path, out_dir / name)
        text = " ".join(row.item.text.split())
        index.append(f"{row.flow.id}\t{row.item.prompt_id}\t{row.item.lang}\t"
                     f"{row.item.variant}\t{row.source}\t{name}\t{text}")
    path = out_dir / "prompts.tsv"
    path.write_text("\n".join(index) + "\n", encoding="utf-8")
    return path


def _data_dir(args) -> Path:
    if args.data_dir:
        return Path(args.data_dir)
    from gateway.config import load

    return load(args.config).data_dir


def cmd_render(args) -> int:
    try:
        flows = [resolve(name) for name in args.flow] or [resolve(str(p))
                                                          for p in shipped_paths()]
    except (FlowError, KeyError, OSError) as exc:
        print(exc, file=sys.stderr)
        return 2
    try:
        data_dir = _data_dir(args)
    except ValueError as exc:  # gateway.config.ConfigError
        print(f"hcp prompts: configuration error: {exc}", file=sys.stderr)
        return 2
    cache = PromptCache.in_data_dir(data_dir, args.rate)
    try:
        rows = render_flows(flows, cache)
    except TtsError as exc:
        print(f"hcp prompts: {exc}", file=sys.stderr)
        return 1
    for flow in flows:
        mine = [r for r in rows if r.flow is flow]
        if flow.type != "voice":
            print(f"{flow.id}@{flow.version}: {flow.type} flow, nothing spoken")
            continue
        counts = Counter("context" if r.path is None else
                         RECORDED if r.source == RECORDED else
                         "rendered" if r.rendered else "cached" for r in mine)
        print(f"{flow.id}@{flow.version}: {len(mine)} texts at {args.rate} Hz: "
              f"{counts['rendered']} rendered, {counts['cached']} cached, "
              f"{counts[RECORDED]} recorded, {counts['context']} need call context")
        for row in mine:
            if row.path is None:
                print(f"  {row.item.prompt_id} ({row.item.lang}): at call time, names "
                      + ", ".join("{" + n + "}" for n in row.item.needs))
            elif row.item.audio and row.source != RECORDED:
                print(f"  {row.item.prompt_id} ({row.item.lang}): recorded "
                      f"{row.item.audio} not found, synthesised")
    print(f"cache: {cache.cache_dir}")
    if args.out:
        print(f"exported: {export(rows, Path(args.out))}")
    return 0
