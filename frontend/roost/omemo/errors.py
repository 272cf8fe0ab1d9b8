"""The OMEMO branch of the Roost exception tree (the root is in roost.xmpp.errors).

    RoostError
    └── OmemoError          anything the OMEMO layer raises on purpose
        └── CryptoError     a primitive refused its input or failed (bad tag,
                            bad padding, wrong key length, zero DH output...)

A primitive never returns a silently wrong result: it returns the value, or
`False` for a signature that does not verify, or raises `CryptoError`.
"""

from __future__ import annotations

from roost.xmpp.errors import RoostError


class OmemoError(RoostError):
    """An error of the OMEMO layer."""

    _user_message = "Something went wrong with end-to-end encryption."


class CryptoError(OmemoError):
    """A cryptographic primitive refused its input or failed."""

    _user_message = "A message could not be encrypted or decrypted."
