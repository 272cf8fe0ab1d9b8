"""The OMEMO branch of the Roost exception tree (the root is in roost.xmpp.errors).

    RoostError
    └── OmemoError              anything the OMEMO layer raises on purpose
        ├── CryptoError         a primitive refused its input or failed (bad tag,
        │                       bad padding, wrong key length, zero DH output...)
        ├── MalformedMessage    bytes that are not a valid legacy OMEMO message
        ├── BadBundle           a peer's bundle with malformed keys or no prekeys
        │   └── BadBundleSignature  its signed prekey's signature doesn't verify
        ├── BadRecord           a stored key or session record that can't be read
        ├── NoSession           no session to decrypt with, and nothing to build one
        ├── BadMac              the message's MAC doesn't match: forged, corrupted,
        │                       or encrypted in a session we no longer have
        ├── DuplicateMessage    already decrypted, or so old its key was dropped
        ├── UnknownPrekey       a prekey message names a prekey we don't have
        │   └── UnknownSignedPrekey  ... or a signed prekey we don't have
        └── TooManySkipped      a message that would skip too many message keys

A primitive never returns a silently wrong result: it returns the value, or
`False` for a signature that does not verify, or raises `CryptoError`.
Protocol functions are transactional: when they raise, the session and
device objects passed in are unchanged.
"""

from __future__ import annotations

from roost.xmpp.errors import RoostError


class OmemoError(RoostError):
    """An error of the OMEMO layer."""

    _user_message = "Something went wrong with end-to-end encryption."


class CryptoError(OmemoError):
    """A cryptographic primitive refused its input or failed."""

    _user_message = "A message could not be encrypted or decrypted."


class MalformedMessage(OmemoError):
    """Bytes that are not a well-formed legacy OMEMO (libsignal) message."""

    _user_message = "An encrypted message arrived damaged and could not be read."


class BadBundle(OmemoError):
    """A peer's published keys (bundle) are malformed or unusable."""

    _user_message = "A contact's device published encryption keys that can't be used."


class BadBundleSignature(BadBundle):
    """The signature on a bundle's signed prekey does not verify."""

    _user_message = (
        "A contact's device published encryption keys with an invalid signature,"
        " so no encrypted session was started with it."
    )


class BadRecord(OmemoError):
    """A stored key or session record is incomplete or of the wrong shape."""

    _user_message = "Stored encryption data is damaged."


class NoSession(OmemoError):
    """There is no session with that device and nothing to build one from."""

    _user_message = "There is no encrypted session with that device yet."


class BadMac(OmemoError):
    """The message's authentication code does not match."""

    _user_message = (
        "A message could not be decrypted: it was damaged, or the encrypted session"
        " with the sender's device is out of step."
    )


class DuplicateMessage(OmemoError):
    """The message was decrypted before, or its key was dropped as too old."""

    _user_message = "A message arrived twice, or too late to be decrypted."


class UnknownPrekey(OmemoError):
    """A prekey message names a one-time prekey this device doesn't have.

    It was most likely used already: the message is a replay, or the sender's
    session is broken (it keeps resending an old session start).
    """

    _user_message = (
        "A message could not be decrypted: it starts an encrypted session with keys"
        " that were already used. The sender's device may need to start a new session."
    )


class UnknownSignedPrekey(UnknownPrekey):
    """A prekey message names a signed prekey this device no longer (or never) had."""

    _user_message = (
        "A message could not be decrypted: it starts an encrypted session with keys"
        " this device replaced long ago."
    )


class TooManySkipped(OmemoError):
    """Decrypting would need more skipped message keys than allowed."""

    _user_message = (
        "A message could not be decrypted: too many messages from that device went missing."
    )
