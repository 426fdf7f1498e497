"""The console's own settings, as plain rows the gateway registers.

``gateway.config`` declares the first console settings itself. The ones the
console added later are listed here as rows ``(name, variable, parser, default,
doc)`` — the parser a ``gateway.config_values.parsers`` name or a function —
the way ``adapters.sms_channel.SETTINGS`` lists the SMS ones: the console does
not import the gateway (tests/test_layering.py); the gateway turns the rows
into ``Setting``s with ``register_settings`` before it loads the config
(``gateway/sms_settings.py`` is the model). They are read through ``setting()``,
which gives the default in a process that has not registered them.
"""

from __future__ import annotations

import ipaddress
from typing import Any

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def networks(raw: Any) -> tuple[Network, ...]:
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


def context_map(raw: Any) -> str:
    """The path of an IVR context map (the JSON ``hcp ivr worker --context-map`` reads),
    checked now: a file that ``ivr.context.ContextMapping.from_dict`` takes."""
    import json
    from pathlib import Path

    from ivr.context import ContextMapping

    if not isinstance(raw, str):
        raise ValueError("expected the path of a JSON file")
    if not raw.strip():
        return ""
    try:
        data = json.loads(Path(raw).read_text("utf-8"))
        if not isinstance(data, dict):
            raise ValueError("not a JSON object")
        ContextMapping.from_dict(data)
    except (OSError, ValueError, AttributeError, TypeError) as exc:
        raise ValueError(f"not an IVR context map: {raw} ({exc})") from None
    return raw


SETTINGS = (
    ("console.secure_cookie", "HCP_CONSOLE_SECURE_COOKIE", "bool", False,
     "Mark the console's cookies Secure even on plain HTTP to the gateway (a "
     "TLS-terminating proxy in front that does not send X-Forwarded-Proto)."),
    ("console.trusted_proxies", "HCP_CONSOLE_TRUSTED_PROXIES", networks, (),
     "Reverse proxies whose X-Forwarded-Proto (https: Secure cookies) and X-Forwarded-For "
     "(the client address the sign-in throttle counts) the console believes; from any "
     "other peer both headers are ignored."),
    ("console.ivr_context_map", "HCP_CONSOLE_IVR_CONTEXT_MAP", context_map, "",
     "The IVR workers' context map (the JSON file of `hcp ivr worker --context-map`), so "
     "the simulator reads its ticket, agent, language and trunk fields as those workers "
     "read an INVITE (the trunk's dialled number -> language, default_lang); empty: the "
     "default mapping, as the IVR pool of hcp serve uses."),
)
DEFAULTS = {name: default for name, _env, _parser, default, _doc in SETTINGS}


def setting(config, name: str):
    """``config[name]``, or the default when the gateway has not registered the row."""
    try:
        return config[name]
    except KeyError:
        return DEFAULTS[name]
