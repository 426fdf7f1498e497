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
SIGNIN_FAIL_TTL_S = 15 * 60
SIGNIN_FAIL_LIMIT = 10  # failed sign-ins per user per 15 minutes


def session(token: str) -> str:
    return f"{PREFIX}:sess:{hashlib.sha256(token.encode()).hexdigest()[:40]}"


def flowdef(flow_id: str, version: str) -> str:
    """string: the YAML text of one version of a flow, kept for diffs."""
    return f"{PREFIX}:flowdef:{flow_id}:{version}"


def flowdefs(flow_id: str) -> str:
    """zset: version -> epoch the console first saw that definition."""
    return f"{PREFIX}:flowdefs:{flow_id}"


def signin_failures(user: str) -> str:
    return f"{PREFIX}:fail:{user}"
