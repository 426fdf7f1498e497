"""Redis keys of the console itself (sessions, flow definitions seen).

The rating data the console shows (results, funnel, cases) has its keys in
``ratings.results``. Same ``{hcp}`` tag, every key with a TTL, no phone number
and no session token in clear (a session key holds a SHA-256 of the cookie).
"""

from __future__ import annotations

import hashlib

from ratings.keys import TAG

PREFIX = f"{TAG}:console"
FLOWDEF_TTL_S = 400 * 24 * 3600
SIGNIN_THROTTLE_TTL_S = 15 * 60  # a pair's failures are forgotten 15 min after the last


def session(token: str) -> str:
    return f"{PREFIX}:sess:{hashlib.sha256(token.encode()).hexdigest()[:40]}"


def flowdef(flow_id: str, version: str) -> str:
    """string: the YAML text of one version of a flow, kept for diffs."""
    return f"{PREFIX}:flowdef:{flow_id}:{version}"


def flowdefs(flow_id: str) -> str:
    """zset: version -> epoch the console first saw that definition."""
    return f"{PREFIX}:flowdefs:{flow_id}"


SIMULATOR_TTL_S = 3600  # a simulator session idle this long is forgotten


def simulator(token: str, flow_id: str) -> str:
    """string (JSON): one signed-in user's simulator session of one flow: its inputs
    (console.pages_flows.SimState); the session cookie only as a hash."""
    digest = hashlib.sha256(f"{token}\0{flow_id}".encode()).hexdigest()[:40]
    return f"{PREFIX}:sim:{digest}"


def signin_throttle(client: str, user: str) -> str:
    """hash {fails, next_at}: failed sign-ins of one user name from one client address
    (both hashed: no address or name in a key)."""
    pair = hashlib.sha256(f"{client}\0{user}".encode()).hexdigest()[:32]
    return f"{PREFIX}:throttle:{pair}"
