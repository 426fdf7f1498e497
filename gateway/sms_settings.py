"""The SMS channel's settings, declared with the process's config.

``adapters.sms_channel`` lists them as plain rows (adapters do not import the
gateway); this module turns each row into a ``Setting`` so that TOML keys,
``HCP_SMS_*`` variables, validation and ``--check-config`` cover them too.
"""

from __future__ import annotations

from adapters import sms_channel
from gateway.config import Setting, parsers, register_settings

register_settings(*(
    Setting(name, env, parser if callable(parser) else getattr(parsers, parser), default, doc,
            secret=parser == "secret" or name.endswith(".password"))
    for name, env, parser, default, doc in sms_channel.SETTINGS))

make = sms_channel.make
