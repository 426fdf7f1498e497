"""The console's own settings (registered with the gateway's config at import).

``gateway.config`` declares the first console settings itself; the ones the
console added later live here, declared with ``register_settings`` like the IVR
and SMS ones. They are read through ``setting()`` with their default, so the
console also runs in a process that loaded its config before importing this
module (the default then applies).
"""

from __future__ import annotations

import ipaddress
from typing import Any

from gateway.config import Setting, parsers, register_settings

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def _networks(raw: Any) -> tuple[Network, ...]:
    """A TOML list (or comma-separated variable) of addresses or networks."""
    items = raw.split(",") if isinstance(raw, str) else raw
    if not isinstance(items, list | tuple) or not all(isinstance(t, str) for t in items):
        raise ValueError("expected a list of addresses or networks, e.g. 127.0.0.1, 10.0.0.0/8")
    out = []
    for item in (t.strip() for t in items):
        if item:
            try:
                out.append(ipaddress.ip_network(item, strict=False))
            except ValueError:
                raise ValueError(f"not an address or network: {item!r}") from None
    return tuple(out)


SETTINGS = (
    Setting("console.secure_cookie", "HCP_CONSOLE_SECURE_COOKIE", parsers.bool, False,
            "Mark the console's cookies Secure even on plain HTTP to the gateway (a "
            "TLS-terminating proxy in front that does not send X-Forwarded-Proto)."),
    Setting("console.trusted_proxies", "HCP_CONSOLE_TRUSTED_PROXIES", _networks, (),
            "Reverse proxies whose X-Forwarded-Proto (https: Secure cookies) and "
            "X-Forwarded-For (the client address the sign-in throttle counts) the console "
            "believes; from any other peer both headers are ignored."),
)
register_settings(*SETTINGS)
DEFAULTS = {s.name: s.default for s in SETTINGS}


def setting(config, name: str):
    """``config[name]``, or the default when the config was loaded before this module."""
    try:
        return config[name]
    except KeyError:
        return DEFAULTS[name]
