"""Phone numbers at rest, sealed (seed art. 4; issue 10 point 13).

A number the gateway must keep to text or call a citizen back (a pending SMS
reminder, an invitation after an unrated call, a bad-rating case) is stored as
``p1:`` + base64url(nonce ‖ AES-256-GCM ciphertext ‖ tag), never in clear. The key
is derived with HKDF-SHA256 from the installation's phone secret
(``intake.phone_secret``, kept in ``<data_dir>/secrets/phone_secret``), with its own
``info`` label, so it is not the key of the phone references (``keys.phone_ref``,
an HMAC of the same secret). A fresh nonce per value: two records of one number do
not match, and a Redis dump tells nobody who was texted.

``open`` returns a value without the prefix as it is: records written before
sealing was introduced are still read (they age out with their TTL). A sealed value
that does not open (another installation's key, a damaged record) raises
``SealedValueError``; it is never guessed.
"""

from __future__ import annotations

import base64
import binascii
import os

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

PREFIX = "p1:"
_INFO = b"hcp-gateway phone at rest v1"
_NONCE = 12


class SealedValueError(ValueError):
    """A sealed value that this installation's key does not open."""


class PhoneVault:
    def __init__(self, secret: bytes):
        key = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=_INFO).derive(secret)
        self._aead = AESGCM(key)

    def seal(self, phone: str) -> str:
        if not phone:
            return ""
        nonce = os.urandom(_NONCE)
        sealed = nonce + self._aead.encrypt(nonce, phone.encode(), None)
        return PREFIX + base64.urlsafe_b64encode(sealed).decode().rstrip("=")

    def open(self, value: str) -> str:
        if not value.startswith(PREFIX):
            return value  # empty, or written before numbers were sealed
        text = value[len(PREFIX):]
        try:
            raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
            return self._aead.decrypt(raw[:_NONCE], raw[_NONCE:], None).decode()
        except (binascii.Error, InvalidTag, ValueError) as exc:
            raise SealedValueError("a sealed phone number that this key does not open "
                                   "(another installation's secret, or a damaged record)"
                                   ) from exc


def is_sealed(value: str) -> bool:
    return value.startswith(PREFIX)
