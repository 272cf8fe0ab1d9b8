"""XML namespaces used by the core (module-level strings: no enum at run time)."""

from __future__ import annotations

FRAMING = "urn:ietf:params:xml:ns:xmpp-framing"  # RFC 7395 <open/>, <close/>
STREAMS = "http://etherx.jabber.org/streams"  # <features/>, <error/>
STREAM_ERRORS = "urn:ietf:params:xml:ns:xmpp-streams"
SASL = "urn:ietf:params:xml:ns:xmpp-sasl"
BIND = "urn:ietf:params:xml:ns:xmpp-bind"
SESSION = "urn:ietf:params:xml:ns:xmpp-session"  # RFC 3921, obsolete but still advertised
CLIENT = "jabber:client"
STANZAS = "urn:ietf:params:xml:ns:xmpp-stanzas"
ROSTER = "jabber:iq:roster"
PING = "urn:xmpp:ping"  # XEP-0199
CSI = "urn:xmpp:csi:0"  # XEP-0352 (xeps/xep_0352.NS)
DELAY = "urn:xmpp:delay"  # XEP-0203
SID = "urn:xmpp:sid:0"  # XEP-0359
DISCO_INFO = "http://jabber.org/protocol/disco#info"  # XEP-0030
CARBONS = "urn:xmpp:carbons:2"  # XEP-0280 (xeps/xep_0280.NS)
MAM = "urn:xmpp:mam:2"  # XEP-0313 (xeps/xep_0313.NS)
