"""One module per XEP: namespace constants, builders, parsers. Pure functions.

Each module builds `Element`s and parses them into small `__slots__` records
(`roost.xmpp.events.Record`); a parser returns None for "not this XEP",
raises `ProtocolError` for a malformed payload and `ForgedStanza` for one
claiming an origin it can't have. None keeps state or does I/O: the client
(`roost.xmpp.client`) decides what is trusted (own JID, rooms, query ids)
and passes it in. This package imports nothing; import the module you need,
where you first need it (Brython compiles every imported module).

    xep_0085  Chat State Notifications (active, composing, paused, ...)
    xep_0184  Message Delivery Receipts (request, received; when to answer)
    xep_0198  Stream Management (acks, resumption; driven by ClientStream)
    xep_0280  Message Carbons (enable, unwrap only from the own bare JID, private)
    xep_0297  Stanza Forwarding (<forwarded/>: one message plus its delay)
    xep_0308  Last Message Correction (<replace id/>, same-sender rule)
    xep_0313  Message Archive Management v2 with RSM paging (query, result, fin)
    xep_0333  Chat Markers (markable; received, displayed, acknowledged)
    xep_0334  Message Processing Hints (store, no-store, no-copy, ...)
    xep_0352  Client State Indication (active, inactive, stream feature)
    xep_0359  Unique and Stable Stanza IDs (stanza-id trust, deduplication keys)

XEP-0203 delays are read with `roost.xmpp.stamps.parse_datetime`.
"""
