"""Kamailio as the SIP front of the worker pool: config, dispatcher list, process.

``docker/kamailio/kamailio.cfg`` is a template (``@@NAME@@`` markers, because
``$`` belongs to Kamailio's own pseudo-variables). ``write_front`` renders it and
writes the dispatcher list of the pool's workers (set 1, one line per worker,
``duid`` = the worker's name, ``maxload`` = its call limit) into a directory;
``hcp ivr kamailio-config`` is the command line to it. ``KamailioProcess`` runs
``kamailio -DD -E`` (foreground, log to stderr) with its own runtime directory,
for tests, benchmarks and a supervisor that wants the front as a child.

The front sheds load before the workers (issue 11): ``ratelimit`` passes at most
``invite_limit`` new INVITEs per second to the pool (default 20 per worker; a
worker admits 20 new calls/s itself) and answers the rest with a stateless 503
and Retry-After; ``pike`` drops a source outside ``trusted`` that sends more than
``pike_density`` requests in 2 s. The dispatcher's call-load algorithm answers
503 at once when every worker holds its 4 calls.
"""

from __future__ import annotations

import shutil
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from ivr.pool import die_with_parent
from ivr.pool_config import PoolConfig
from ivr.sip_probe import sip_options_ping_blocking

TEMPLATE = Path(__file__).resolve().parents[1] / "docker" / "kamailio" / "kamailio.cfg"
LIBRARY_CALL_LIMIT = 4  # the pjsua2 wheel's PJSUA_MAX_CALLS


@dataclass(frozen=True)
class FrontSettings:
    listen: str = "127.0.0.1:5070"  # address:port the front listens on (UDP)
    children: int = 2  # UDP worker processes of Kamailio
    ping_interval_s: int = 2  # OPTIONS probe of every worker
    fr_timer_ms: int = 2000  # no reply from a worker within this: next worker
    # dispatcher algorithm: 10 least call load (the proxy counts each worker's
    # calls against maxload=4); 4 round-robin; 8 by priority (a hunt group: fill
    # the first worker, overflow to the next by failover)
    algorithm: int = 10
    # load shedding (issue 11): new INVITEs per second the front passes to the whole
    # pool (None: INVITES_PER_WORKER_S per worker), beyond it a stateless 503;
    # pike drops a source above pike_density requests per 2 s, except trusted networks
    invite_limit_s: int | None = None
    pike_density: int = 400
    trusted: str = "127.0.0.1/32"  # comma-separated networks (the PBX/trunk)


INVITES_PER_WORKER_S = 20  # 5 s of a worker's 4 slots turning over at 200 ms per call


def invite_limit(config: PoolConfig, front: FrontSettings) -> int:
    if front.invite_limit_s is not None:
        return front.invite_limit_s
    return max(INVITES_PER_WORKER_S, INVITES_PER_WORKER_S * config.count)


def dispatcher_list(config: PoolConfig, setid: int = 1) -> str:
    limit = min(config.max_calls or LIBRARY_CALL_LIMIT, LIBRARY_CALL_LIMIT)
    lines = ["# IVR workers, written by `hcp ivr kamailio-config` from the pool config",
             "# setid destination flags priority attributes"]
    for spec in config.workers():
        priority = config.count - spec.index  # used by algorithm 8 only
        lines.append(f"{setid} sip:{config.host}:{spec.sip_port} 0 {priority} "
                     f"duid=w{spec.name};maxload={limit}")
    return "\n".join(lines) + "\n"


def render_config(dispatcher_path: Path, rundir: Path, front: FrontSettings,
                  template: Path = TEMPLATE, invite_limit_s: int = INVITES_PER_WORKER_S) -> str:
    text = template.read_text()
    trusted = [net.strip() for net in front.trusted.split(",") if net.strip()]
    values = {"LISTEN": front.listen, "DISPATCHER_LIST": str(dispatcher_path),
              "RUNDIR": str(rundir), "CHILDREN": str(front.children),
              "PING_INTERVAL": str(front.ping_interval_s), "FR_TIMER_MS": str(front.fr_timer_ms),
              "ALGORITHM": str(front.algorithm), "INVITE_LIMIT": str(invite_limit_s),
              "PIKE_DENSITY": str(front.pike_density),
              "TRUSTED": ",".join(trusted) or "255.255.255.255/32"}
    for name, value in values.items():
        text = text.replace(f"@@{name}@@", value)
    if "@@" in text:
        raise ValueError(f"unfilled marker in {template}")
    return text


def write_front(config: PoolConfig, out_dir: Path, front: FrontSettings = FrontSettings(),
                rundir: Path | None = None) -> tuple[Path, Path]:
    """Write ``kamailio.cfg`` and ``dispatcher.list`` into out_dir; return both paths."""
    out_dir = Path(out_dir).resolve()
    out_dir.mkdir(parents=True, exist_ok=True)
    rundir = Path(rundir) if rundir is not None else out_dir / "run"
    rundir.mkdir(parents=True, exist_ok=True)
    dispatcher = out_dir / "dispatcher.list"
    dispatcher.write_text(dispatcher_list(config))
    cfg = out_dir / "kamailio.cfg"
    cfg.write_text(render_config(dispatcher, rundir, front,
                                 invite_limit_s=invite_limit(config, front)))
    return cfg, dispatcher


class KamailioProcess:
    """``kamailio -DD -E -f cfg`` as a child; ``stop()`` ends it and its children."""

    def __init__(self, cfg: Path, rundir: Path, log_path: Path, listen: str,
                 shm_mb: int = 64):
        self.listen = listen
        binary = shutil.which("kamailio") or "/usr/sbin/kamailio"
        self.args = [binary, "-DD", "-E", "-f", str(cfg), "-Y", str(rundir),
                     "-m", str(shm_mb), "-M", "8"]
        self.log_path = Path(log_path)
        self.proc: subprocess.Popen | None = None

    def check(self) -> None:
        result = subprocess.run(self.args[:1] + ["-c", "-f", self.args[4]],
                                capture_output=True, text=True, timeout=20)
        if result.returncode != 0:
            raise RuntimeError(f"kamailio -c failed:\n{result.stderr[-3000:]}")

    def start(self, timeout: float = 15) -> KamailioProcess:
        self._log = open(self.log_path, "w")
        self.proc = subprocess.Popen(self.args, stdout=self._log, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL, start_new_session=True,
                                     preexec_fn=die_with_parent)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"kamailio exited: {self.log()[-3000:]}")
            if self.ping():
                return self
            time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"kamailio did not start: {self.log()[-3000:]}")

    def ping(self) -> bool:
        """Does the front answer an OPTIONS addressed to itself?"""
        host, port = self.listen.rsplit(":", 1)
        return sip_options_ping_blocking(host, int(port), timeout=0.5)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def stop(self) -> None:
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)  # the main process ends its children
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._log.close()
        self.proc = None


# -- `hcp ivr kamailio-config` --------------------------------------------------------
def register_cli(ivr_subparsers) -> None:
    """Adds ``kamailio-config`` under ``hcp ivr`` (called by gateway.cli_ivr)."""
    k = ivr_subparsers.add_parser(
        "kamailio-config", help="write kamailio.cfg + dispatcher.list for the worker pool",
        description="Render docker/kamailio/kamailio.cfg and the dispatcher list from the "
                    "pool settings (HCP_IVR_* variables, see docs/ivr-pool.md).")
    k.add_argument("--out", default="kamailio", help="directory to write into")
    k.add_argument("--listen", default="127.0.0.1:5070", help="address:port of the front")
    k.add_argument("--rundir", default=None, help="Kamailio runtime dir (default OUT/run)")
    k.add_argument("--algorithm", type=int, default=10,
                   help="dispatcher algorithm: 10 least call load (default), 4 round-robin, "
                        "8 by priority (hunt group)")
    k.add_argument("--children", type=int, default=2)
    k.add_argument("--invite-limit", type=int, default=None,
                   help=f"new INVITEs per second passed to the pool, beyond: 503 "
                        f"(default {INVITES_PER_WORKER_S} per worker)")
    k.add_argument("--trusted", default="127.0.0.1/32",
                   help="comma-separated networks exempt from pike (the PBX/trunk)")
    k.add_argument("--pike-density", type=int, default=400,
                   help="requests per 2 s above which pike drops an untrusted source")
    k.add_argument("--workers", type=int, default=None, help="override HCP_IVR_WORKERS")
    k.add_argument("--sip-port", type=int, default=None, help="override HCP_IVR_SIP_PORT")
    k.add_argument("--host", default=None, help="address the front reaches workers on")
    k.set_defaults(func=_cli)


def _cli(args) -> int:
    import dataclasses
    import os
    import sys

    from ivr.pool_config import WORKERS_ENV, PoolConfigError

    env = dict(os.environ)
    env.setdefault(WORKERS_ENV, "1")
    try:
        config = PoolConfig.from_env(env)
        overrides = {k: v for k, v in (("count", args.workers), ("sip_port", args.sip_port),
                                       ("host", args.host)) if v is not None}
        config = dataclasses.replace(config, **overrides)
    except PoolConfigError as exc:
        print(f"hcp ivr kamailio-config: {exc}", file=sys.stderr)
        return 2
    front = FrontSettings(listen=args.listen, children=args.children, algorithm=args.algorithm,
                          invite_limit_s=args.invite_limit, trusted=args.trusted,
                          pike_density=args.pike_density)
    rundir = Path(args.rundir).resolve() if args.rundir else Path(args.out).resolve() / "run"
    cfg, dispatcher = write_front(config, Path(args.out), front, rundir)
    print(f"wrote {cfg} and {dispatcher} ({config.count} worker(s), SIP ports "
          f"{config.sip_port}..{config.sip_port + config.count - 1})")
    print(f"run: kamailio -DD -E -f {cfg} -Y {rundir}")
    return 0
