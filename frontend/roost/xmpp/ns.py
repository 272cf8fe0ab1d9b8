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
DISCO_ITEMS = "http://jabber.org/protocol/disco#items"  # XEP-0030 (xeps/xep_0030)
DATA_FORMS = "jabber:x:data"  # XEP-0004 (xeps/xep_0004)
CAPS = "http://jabber.org/protocol/caps"  # XEP-0115 (xeps/xep_0115)
MUC = "http://jabber.org/protocol/muc"  # XEP-0045 (xeps/xep_0045)
MUC_USER = "http://jabber.org/protocol/muc#user"
MUC_ADMIN = "http://jabber.org/protocol/muc#admin"
MUC_OWNER = "http://jabber.org/protocol/muc#owner"
PUBSUB = "http://jabber.org/protocol/pubsub"  # XEP-0060, for PEP (XEP-0163)
PUBSUB_EVENT = "http://jabber.org/protocol/pubsub#event"
PRIVATE = "jabber:iq:private"  # XEP-0049
PUBSUB_OWNER = "http://jabber.org/protocol/pubsub#owner"  # node configuration
OMEMO_LEGACY = "eu.siacs.conversations.axolotl"  # XEP-0384 0.3 (xeps/xep_0384)
OMEMO_2 = "urn:xmpp:omemo:2"  # XEP-0384 0.8+ (xeps/xep_0384)
SCE = "urn:xmpp:sce:1"  # XEP-0420, OMEMO 2's plaintext envelope
