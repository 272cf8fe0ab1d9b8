"""One module per XEP: namespace constants, builders, parsers. Pure functions.

Each module builds `Element`s and parses them into small `__slots__` records
(`roost.xmpp.events.Record`); a parser returns None for "not this XEP",
raises `ProtocolError` for a malformed payload and `ForgedStanza` for one
claiming an origin it can't have. None keeps state or does I/O: the client
(`roost.xmpp.client`) decides what is trusted (own JID, rooms, query ids)
and passes it in. This package imports nothing; import the module you need,
where you first need it (Brython compiles every imported module).

    xep_0004  Data Forms (fields, submit forms from a dict)
    xep_0030  Service Discovery (disco#info with extended forms, disco#items)
    xep_0045  Multi-User Chat (join, occupants, status codes, admin, config, invites)
    xep_0048  Bookmarks in private XML storage (the legacy store)
    xep_0085  Chat State Notifications (active, composing, paused, ...)
    xep_0115  Entity Capabilities (our <c/>, identity and features)
    xep_0184  Message Delivery Receipts (request, received; when to answer)
    xep_0198  Stream Management (acks, resumption; driven by ClientStream)
    xep_0249  Direct MUC Invitations (jabber:x:conference)
    xep_0280  Message Carbons (enable, unwrap only from the own bare JID, private)
    xep_0297  Stanza Forwarding (<forwarded/>: one message plus its delay)
    xep_0308  Last Message Correction (<replace id/>, same-sender rule)
    xep_0313  Message Archive Management v2 with RSM paging (query, result, fin)
    xep_0333  Chat Markers (markable; received, displayed, acknowledged)
    xep_0334  Message Processing Hints (store, no-store, no-copy, ...)
    xep_0352  Client State Indication (active, inactive, stream feature)
    xep_0357  Push Notifications (enable, disable) and Roost's push registration
    xep_0359  Unique and Stable Stanza IDs (stanza-id trust, deduplication keys)
    xep_0402  PEP Native Bookmarks (Bookmark, publish-options, notifications)
    xep_0410  MUC Self-Ping (joined / not joined / unknown)
    xep_0421  Occupant identifiers (trusted only where the room advertises them)
    xep_0425  Message Moderation 0.2 and 0.3 (request, announcement, tombstone)

XEP-0203 delays are read with `roost.xmpp.stamps.parse_datetime`.
"""
