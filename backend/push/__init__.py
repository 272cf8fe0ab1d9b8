"""The Web Push gateway: an XEP-0357 app server built as an XMPP component.

How a push travels (docs/operators.md, "Push notifications"):

1. The browser subscribes with the push service of its vendor
   (`PushManager.subscribe` with our VAPID public key) and sends the
   subscription to this component over XMPP (`urn:roost:push:0`
   `<register/>`); the user's own server stamps the `from`, so only the
   account's logged-in client can bind a node to it (`component.py`).
2. The browser enables XEP-0357 on its server with our JID, the node and
   the secret we handed out.
3. The user's server (Prosody `mod_cloud_notify`) publishes to the node
   when a message arrives while the client is away; we answer at once,
   apply the user's privacy choice (`payload.py`), encrypt (RFC 8291) and
   send the Web Push (RFC 8030, VAPID RFC 8292) in the background
   (`webpush.py`, `vapid.py`).

Modules: `store` (node → subscription; SQLite), `payload`, `vapid`,
`webpush` (encryption, sender, retry policy, SSRF guard), `component`
(stanza handling), `gateway` (lifecycle, reconnecting to the XMPP server).
"""
