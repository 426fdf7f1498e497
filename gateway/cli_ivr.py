"""``hcp ivr worker``: one IVR SIP worker process (start N on different ports)."""

from __future__ import annotations

import asyncio
import json
import logging
import os
from pathlib import Path


def register(subparsers) -> None:
    ivr = subparsers.add_parser("ivr", help="the hotline IVR")
    sub = ivr.add_subparsers(dest="ivr_command", required=True)
    w = sub.add_parser("worker", help="run one SIP worker (pjsua2, at most 4 calls)")
    w.add_argument("--sip-port", type=int, default=5060)
    w.add_argument("--rtp-port", type=int, default=4000, help="first RTP port")
    w.add_argument("--rtp-range", type=int, default=200, help="RTP ports in the range")
    w.add_argument("--bind", default="", help="address to bind (default: all)")
    w.add_argument("--no-tcp", action="store_true", help="UDP only")
    w.add_argument("--flow", default="hotline-rating", help="flow id or YAML path")
    w.add_argument("--redis", default=os.environ.get("HCP_IVR_REDIS_URL") or os.environ.get(
        "REDIS_URL", "redis://127.0.0.1:6379/0"),
        help="default $HCP_IVR_REDIS_URL (how the pool passes it: a URL with a password "
             "stays off the command line), then $REDIS_URL")
    w.add_argument("--data-dir", default=os.environ.get("HCP_DATA_DIR", "data"))
    w.add_argument("--allow", action="append", default=None,
                   help="source network allowed to call (repeat); default 127.0.0.1/32")
    w.add_argument("--max-calls", type=int, default=None,
                   help="call limit (capped at the library's; the wheel's is 4)")
    w.add_argument("--max-call-seconds", type=float, default=600.0)
    w.add_argument("--inband-dtmf", action="store_true",
                   help="detect DTMF tones in the audio of every call")
    w.add_argument("--inband-from", action="append", default=[],
                   help="detect DTMF tones on calls from this trunk network (repeat)")
    w.add_argument("--no-prerender", action="store_true",
                   help="do not render the flow's prompts at start (render on first use)")
    w.add_argument("--context-map", default=None,
                   help="JSON file: {headers: {X-Header: name}, uui_keys: {...}}")
    w.add_argument("--metrics-port", type=int, default=None)
    w.add_argument("--pjsip-log-level", type=int, default=1)
    w.add_argument("--log-level", default="INFO")
    w.add_argument("--register", default=None, help="registrar URI, e.g. sip:pbx:5060")
    w.add_argument("--register-user", default=None)
    w.add_argument("--register-password", default=os.environ.get("HCP_SIP_PASSWORD"))
    w.set_defaults(func=run)
    from ivr.kamailio import register_cli as register_kamailio  # the pool's front

    register_kamailio(sub)


def settings_from_args(args):
    from adapters.sip_pjsua2 import Registration, SipSettings
    from ivr.context import ContextMapping
    from ivr.worker import WorkerSettings

    registration = None
    if args.register:
        registration = Registration(args.register, args.register_user or "ivr",
                                    args.register_password or "")
    sip = SipSettings(sip_port=args.sip_port, rtp_port=args.rtp_port,
                      rtp_port_range=args.rtp_range, bind_address=args.bind,
                      tcp=not args.no_tcp, allowed_sources=args.allow or ["127.0.0.1/32"],
                      max_calls=args.max_calls, pjsip_log_level=args.pjsip_log_level,
                      inband_dtmf=args.inband_dtmf, inband_sources=args.inband_from,
                      registration=registration)
    mapping = ContextMapping()
    if args.context_map:
        mapping = ContextMapping.from_dict(json.loads(Path(args.context_map).read_text()))
    secret = os.environ.get("HCP_PHONE_SECRET", "hcp-dev-secret").encode()
    return WorkerSettings(sip=sip, flow=args.flow, redis_url=args.redis,
                          data_dir=Path(args.data_dir), phone_secret=secret, context=mapping,
                          max_call_s=args.max_call_seconds, metrics_port=args.metrics_port,
                          prerender=not args.no_prerender)


def run(args) -> int:
    """Run one worker with the gateway's log format (gateway.logs: JSON lines, phone
    mask), so the pool can relay its stderr into the gateway's log unchanged."""
    from gateway.logs import setup_logging

    setup_logging(args.log_level.upper())
    from ivr.worker import run_worker

    try:
        asyncio.run(run_worker(settings_from_args(args)))
    except Exception:
        logging.getLogger("hcp.ivr.worker").exception("ivr.worker.failed")
        return 1
    return 0
