"""``hcp flows …``: work with flow files from the terminal.

  hcp flows validate [FILE…]      hard errors (schema, structure); all shipped flows if none
  hcp flows lint [FILE…]          hard errors, then review issues sorted by node (--strict:
                                  review issues fail too)
  hcp flows render FLOW --format mermaid|dot
  hcp flows diff OLD NEW          node-by-node changes (exit 1 when they differ)
  hcp flows simulate FLOW         interactive: type keys or SMS text, ``wait 6s``, ``hangup``
  hcp flows simulate FLOW --script FILE [--check | --update]
                                  replay a transcript; --check compares with its ``<`` lines
FLOW is a path to a YAML file or the id / file stem of a shipped flow.
"""

from __future__ import annotations

import difflib
import sys
from pathlib import Path

from flows.diff import diff
from flows.inspect import inspect
from flows.loader import FlowError, load_flow, resolve, shipped_paths
from flows.render import RENDERERS
from flows.simulate import SimulatorError, Simulator, apply_directive, run_transcript


def _grammar():
    try:
        import sms.grammar as grammar  # the real reply grammar, when the SMS area is present
    except ImportError:  # pragma: no cover - flows alone
        return None
    return grammar


def register(subparsers) -> None:
    flows = subparsers.add_parser("flows", help="validate and simulate flow files")
    sub = flows.add_subparsers(dest="flows_command", required=True)

    validate = sub.add_parser("validate", help="report hard errors of flow files")
    validate.add_argument("files", nargs="*")
    validate.set_defaults(func=cmd_validate)

    lint = sub.add_parser("lint", help="hard errors and review issues of flow files")
    lint.add_argument("files", nargs="*")
    lint.add_argument("--strict", action="store_true", help="review issues fail too")
    lint.set_defaults(func=cmd_lint)

    render = sub.add_parser("render", help="draw a flow as Mermaid or Graphviz DOT")
    render.add_argument("flow")
    render.add_argument("--format", choices=sorted(RENDERERS), default="mermaid",
                        help="svg needs Graphviz dot")
    render.set_defaults(func=cmd_render)

    changes = sub.add_parser("diff", help="what changed between two versions of a flow")
    changes.add_argument("old")
    changes.add_argument("new")
    changes.set_defaults(func=cmd_diff)

    sim = sub.add_parser("simulate", help="run a flow in the terminal")
    sim.add_argument("flow", help="flow file, or shipped flow id/stem")
    sim.add_argument("--script", help="transcript file to replay (! directives, > inputs)")
    mode = sim.add_mutually_exclusive_group()
    mode.add_argument("--check", action="store_true",
                      help="with --script: fail unless the output equals the file's")
    mode.add_argument("--update", action="store_true",
                      help="with --script: rewrite the file with the new output")
    sim.add_argument("--lang", help="start in this language (zh, yue, en)")
    sim.add_argument("--context", action="append", default=[], metavar="KEY=VALUE",
                     help="trigger context, e.g. item_name=… reply_code=A3 staff_id=A17")
    sim.add_argument("--already-evaluated", action="append", default=[], metavar="TARGET",
                     help="answer submissions for this target (item, staff) as duplicates")
    sim.set_defaults(func=cmd_simulate)


def cmd_validate(args) -> int:
    paths = [Path(f) for f in args.files] or shipped_paths()
    failed = 0
    for path in paths:
        try:
            flow = load_flow(path)
        except FlowError as exc:
            failed += 1
            print(exc)
            continue
        except OSError as exc:
            failed += 1
            print(f"{path}: {exc}")
            continue
        print(f"{path}: ok  {flow.id}@{flow.version} ({flow.type}, {len(flow.nodes)} nodes)")
    return 1 if failed else 0


def cmd_lint(args) -> int:
    paths = [Path(f) for f in args.files] or shipped_paths()
    errors = issues = 0
    for path in paths:
        try:
            flow = load_flow(path)
        except (FlowError, OSError) as exc:
            errors += 1
            print(f"{exc}" if isinstance(exc, FlowError) else f"{path}: {exc}")
            continue
        found = inspect(flow)
        issues += len(found)
        print(f"{path}: {flow.id}@{flow.version}: "
              + (f"{len(found)} review issue(s)" if found else "clean"))
        for issue in found:
            print(f"  {issue}")
    if errors or (args.strict and issues):
        return 1
    return 0


def cmd_render(args) -> int:
    try:
        flow = resolve(args.flow)
    except (FlowError, KeyError, OSError) as exc:
        print(exc, file=sys.stderr)
        return 2
    sys.stdout.write(RENDERERS[args.format](flow))
    return 0


def cmd_diff(args) -> int:
    try:
        old, new = resolve(args.old), resolve(args.new)
    except (FlowError, KeyError, OSError) as exc:
        print(exc, file=sys.stderr)
        return 2
    lines = diff(old, new)
    print("\n".join(lines) if lines else f"no change ({old.id}@{old.version})")
    return 1 if lines else 0


def cmd_simulate(args) -> int:
    try:
        if args.script:
            return _scripted(args)
        flow = resolve(args.flow)
    except (FlowError, KeyError, SimulatorError, OSError) as exc:
        print(exc, file=sys.stderr)
        return 2
    options: dict = {}
    for item in args.context:
        apply_directive(options, f"context {item}")
    for target in args.already_evaluated:
        apply_directive(options, f"already-evaluated {target}")
    sim = Simulator(flow, _grammar(), lang=args.lang, **options)
    print(f"# {flow.id}@{flow.version} ({flow.type}). "
          + ("Type keys (0-9 * #)" if flow.type == "voice" else "Type reply text")
          + ", wait 6s, record 5s, hangup; Ctrl-D to quit.")
    for line in sim.begin():
        print("< " + line)
    while not sim.ended:
        try:
            entry = input("> ")
        except EOFError:
            print()
            return 0
        if not entry.strip():
            continue
        try:
            for line in sim.feed(entry):
                print("< " + line)
        except SimulatorError as exc:
            print(f"? {exc}")
    return 0


def _scripted(args) -> int:
    path = Path(args.script)
    text = path.read_text(encoding="utf-8")
    if not any(line.startswith("! flow ") for line in text.splitlines()):
        text = f"! flow {args.flow}\n" + text
    out = run_transcript(text, resolve, _grammar())
    expected = "".join(line + "\n" for line in text.splitlines() if not line.startswith("#"))
    if args.update:
        path.write_text(out, encoding="utf-8")
        print(f"wrote {path}")
        return 0
    if args.check:
        if out == expected:
            print(f"{path}: ok")
            return 0
        sys.stdout.writelines(difflib.unified_diff(
            expected.splitlines(True), out.splitlines(True), str(path), "simulated"))
        return 1
    sys.stdout.write(out)
    return 0
