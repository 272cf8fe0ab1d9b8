"""The Roost exception tree, drawn once here.

    RoostError                   anything Roost raises on purpose
    └── XmppError                protocol layer
        ├── JidError             an address that is not a valid JID
        ├── StreamError          <stream:error> from the server (fatal)
        ├── AuthError            SASL failed or the server failed to prove itself
        ├── StanzaError          <error/> inside an iq/message/presence reply
        ├── ProtocolError        the peer broke the protocol (fatal)
        │   └── ForgedStanza     a stanza claiming an origin it can't have (dropped)
        ├── XmlError             a frame that is not acceptable XML
        └── NetworkError         the connection could not be opened or was lost
            └── LoginTimeout     connected, but not signed in within the deadline

Every class has `.user_message`: a sentence a person can act on, never a
traceback or a protocol condition name. `str(error)` keeps the technical
detail for developers.
"""

from __future__ import annotations


class RoostError(Exception):
    """Root of every error Roost raises on purpose."""

    # Subclasses with a fixed text override this; others override the property.
    _user_message = "Something went wrong."

    @property
    def user_message(self) -> str:
        """What to tell the person, in plain words."""
        return self._user_message


class XmppError(RoostError):
    """An error of the XMPP layer."""

    _user_message = "Something went wrong while talking to the server."


class JidError(XmppError):
    """An address that is not a valid JID (RFC 7622)."""

    _user_message = "That address doesn't look right. It should look like name@example.org."


# RFC 6120 §4.9.3 conditions a person might see; others get the default text.
_STREAM_MESSAGES = {
    "conflict": "You signed in from somewhere else, so this session was closed.",
    "system-shutdown": "The server is shutting down. Try again later.",
    "policy-violation": "The server closed the connection because of its usage rules.",
    "host-unknown": "This server doesn't host that address.",
    "not-authorized": "The server refused the connection.",
    "connection-timeout": "The connection timed out. Try again.",
    # A connection manager (Roost's proxy, BOSH) that can't reach the XMPP server.
    "remote-connection-failed": "Can't reach the server. Check your connection and try again.",
    "internal-server-error": "The server had a problem. Try again later.",
    "reset": "The server reset the connection. Try again.",
    "resource-constraint": "The server is too busy right now. Try again later.",
    "see-other-host": "The server asked to connect elsewhere, which Roost doesn't support yet.",
}


# Conditions after which connecting again may well work (their text says so).
_STREAM_RETRYABLE = (
    "remote-connection-failed",
    "connection-timeout",
    "system-shutdown",
    "reset",
    "resource-constraint",
    "internal-server-error",
)


class ConditionError(XmppError):
    """An error named by a defined condition (RFC 6120), worded from a table.

    Subclasses set `_messages` (condition → sentence) and `_user_message`
    (the sentence for any other condition, so a person never sees the raw name).
    """

    _messages: dict[str, str] = {}

    def __init__(self, condition: str, text: str | None = None) -> None:
        super().__init__(condition + (": " + text if text else ""))
        self.condition = condition
        self.text = text

    @property
    def user_message(self) -> str:
        return self._messages.get(self.condition, self._user_message)


class StreamError(ConditionError):
    """A stream-level error sent by the server; the stream is over."""

    _messages = _STREAM_MESSAGES
    _user_message = "The server closed the connection. Try again later."

    @property
    def retryable(self) -> bool:
        """True when connecting again may help (the server's trouble, not a refusal)."""
        return self.condition in _STREAM_RETRYABLE


# RFC 6120 §6.5 conditions, plus Roost's own (no-usable-mechanism,
# server-signature, weak-iterations, excessive-iterations, malformed-challenge).
_AUTH_MESSAGES = {
    "not-authorized": "Wrong address or password.",
    "account-disabled": "This account is disabled. Contact the server's administrator.",
    "credentials-expired": "Your password has expired. Change it with your provider.",
    "temporary-auth-failure": "The server couldn't check your password right now. Try again later.",
    "encryption-required": "The server requires an encrypted connection to sign in.",
    "no-usable-mechanism": "This server offers no sign-in method Roost can use safely.",
    "server-signature": "The server couldn't prove it knows your password. "
    "The connection was closed to protect you.",
    "weak-iterations": "The server stores your password too weakly; Roost refused to sign in.",
    "excessive-iterations": "The server asked for far more work to check your password than "
    "any server needs; Roost refused to sign in.",
}


class AuthError(ConditionError):
    """SASL authentication failed (from the server, or refused by Roost)."""

    _messages = _AUTH_MESSAGES
    _user_message = "Signing in failed. Try again."


# RFC 6120 §8.3.3 conditions a person might see.
_STANZA_MESSAGES = {
    "service-unavailable": "The message couldn't be delivered.",
    "recipient-unavailable": "The message couldn't be delivered: the recipient is unavailable.",
    "item-not-found": "That address doesn't exist.",
    "remote-server-not-found": "The other person's server can't be found.",
    "remote-server-timeout": "The other person's server didn't answer in time.",
    "forbidden": "You're not allowed to do that.",
    "not-allowed": "You're not allowed to do that.",
    "not-authorized": "You're not allowed to do that.",
    "policy-violation": "The server refused this because of its usage rules.",
    "resource-constraint": "The server is too busy right now. Try again later.",
}


class StanzaError(ConditionError):
    """An `<error/>` returned for one of our stanzas (RFC 6120 §8.3)."""

    _messages = _STANZA_MESSAGES
    _user_message = "The server refused this request."

    def __init__(self, condition: str, type: str = "cancel", text: str | None = None) -> None:
        super().__init__(condition, text)
        self.type = type


class ProtocolError(XmppError):
    """The server sent something the protocol doesn't allow; the stream is over."""

    _user_message = "The server sent something Roost doesn't understand. Try again later."


class ForgedStanza(ProtocolError):
    """A stanza that claims an origin it can't have (SECURITY.md, forged stanzas).

    Not fatal: the client drops the stanza and reports `reason`. Examples: a
    carbon not from our own bare JID, an archive result for a query we never
    sent or from another archive (the CVE-2017-5589 family).
    """

    _user_message = "Roost ignored a message that pretended to come from somewhere else."

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class XmlError(XmppError):
    """A frame that is not well-formed or uses forbidden XML (RFC 6120 §11.1)."""

    _user_message = "The server sent something Roost doesn't understand. Try again later."


class NetworkError(XmppError):
    """The connection could not be opened (`opened=False`) or was lost.

    `LoginTimeout` (a subclass) is a connection that never got to `Online`.
    """

    def __init__(self, opened: bool, detail: str = "") -> None:
        super().__init__(detail or ("connection lost" if opened else "connection failed"))
        self.opened = opened

    @property
    def user_message(self) -> str:
        if self.opened:
            return "The connection to the server was lost. Try again."
        return "Can't reach the server. Check your connection and try again."


class LoginTimeout(NetworkError):
    """Signing in took too long (the socket may be open, the server silent)."""

    def __init__(self, seconds: float) -> None:
        super().__init__(True, f"not online after {seconds:g} s")

    @property
    def user_message(self) -> str:
        return "The server took too long to answer. Check your connection and try again."
