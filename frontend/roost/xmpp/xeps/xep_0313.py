"""XEP-0313: Message Archive Management v2 (`urn:xmpp:mam:2`) with XEP-0059 RSM.

A query is an `<iq type="set">` (to a room's JID, or no `to` for our own
archive) carrying a `queryid`; the archive answers with one `<message>` per
archived message, each wrapping `<result queryid id>`, then the iq result's
`<fin/>` with the page's first/last ids.

SECURITY: anyone can send us a message wrapping `<result/>`. A result is
accepted only for a `queryid` we sent, and only from the archive that query
went to: our own bare JID (or no `from`) for our archive, the room's JID for
a room. Else `ForgedStanza`.

Paging forward (catching up): start with `start` or `after_id`, then
`build_next_page(fin, ...)` until it returns None. Backward (older history):
`before_id=""` asks for the last page, then `before_id=fin.first`.
An `item-not-found` error (`is_item_not_found`) means the id we paged from
is no longer in the archive: the client records a gap.
"""

from __future__ import annotations

from roost.xmpp import ns
from roost.xmpp.element import Element
from roost.xmpp.errors import ForgedStanza, ProtocolError
from roost.xmpp.events import Record
from roost.xmpp.jid import normalised
from roost.xmpp.stamps import format_datetime
from roost.xmpp.xeps import xep_0297

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Mapping

    from roost.xmpp.jid import JID

NS = "urn:xmpp:mam:2"
RSM = "http://jabber.org/protocol/rsm"
DATA_FORMS = "jabber:x:data"


class ArchivedMessage(Record):
    """One archived message from a result we asked for.

    `archive_id`: the archive's id for it (its stanza-id, by `archive_jid`,
    the normalised bare JID of the archive); `stamp`: epoch seconds from the
    `<delay/>`, or None when the archive gave no usable one (use the arrival
    time); `message`: the archived `<message/>`.
    """

    __slots__ = ("archive_id", "archive_jid", "message", "query_id", "stamp")

    def __init__(
        self,
        query_id: str,
        archive_id: str,
        stamp: float | None,
        message: Element,
        archive_jid: str,
    ) -> None:
        self.query_id = query_id
        self.archive_id = archive_id
        self.stamp = stamp
        self.message = message
        self.archive_jid = archive_jid


class Fin(Record):
    """The end of a page: `complete` (no more in the paging direction),
    `first`/`last` archive ids of the page (None when empty), `count` (the
    total, when the archive says), `stable` (False: ids may change, don't
    keep them for later paging)."""

    __slots__ = ("complete", "count", "first", "last", "stable")

    def __init__(
        self,
        complete: bool,
        first: str | None = None,
        last: str | None = None,
        count: int | None = None,
        stable: bool = True,
    ) -> None:
        self.complete = complete
        self.first = first
        self.last = last
        self.count = count
        self.stable = stable


def _field(form: Element, var: str, value: str, field_type: str | None = None) -> None:
    field = form.add("field", attrs={"var": var})
    if field_type:
        field.attrs["type"] = field_type
    field.add("value", text=value)


def build_query(
    iq_id: str,
    query_id: str,
    with_jid: JID | str | None = None,
    start: float | None = None,
    after_id: str | None = None,
    before_id: str | None = None,
    max: int = 100,
    to: JID | str | None = None,
) -> Element:
    """The query iq. `start`: epoch seconds (rounded down to the second);
    `before_id=""` asks for the last page, None leaves `<before/>` out; `to`:
    the room's JID, None for our own archive."""
    if max < 0:
        raise ValueError("max must not be negative")
    iq = Element("iq", ns.CLIENT, {"type": "set", "id": iq_id})
    if to is not None:
        iq.attrs["to"] = str(to)
    query = iq.add("query", NS, {"queryid": query_id})
    form = query.add("x", DATA_FORMS, {"type": "submit"})
    _field(form, "FORM_TYPE", NS, "hidden")
    if with_jid is not None:
        _field(form, "with", str(with_jid))
    if start is not None:
        _field(form, "start", format_datetime(start))
    rsm = query.add("set", RSM)
    rsm.add("max", text=str(max))
    if after_id is not None:
        rsm.add("after", text=after_id)
    if before_id is not None:
        rsm.add("before", text=before_id)
    return iq


def build_next_page(
    fin: Fin,
    iq_id: str,
    query_id: str,
    with_jid: JID | str | None = None,
    max: int = 100,
    to: JID | str | None = None,
) -> Element | None:
    """The query for the page after `fin` (forward), or None when there is none."""
    if fin.complete or fin.last is None:
        return None
    return build_query(iq_id, query_id, with_jid, after_id=fin.last, max=max, to=to)


def build_result(
    query_id: str, archive_id: str, message: Element, stamp: float, from_jid: JID | str | None
) -> Element:
    """A result message as an archive sends it (for tests and bots)."""
    outer = Element("message", ns.CLIENT)
    if from_jid is not None:
        outer.attrs["from"] = str(from_jid)
    result = outer.add("result", NS, {"queryid": query_id, "id": archive_id})
    result.append(xep_0297.build_forwarded(message, stamp))
    return outer


def parse_result(
    message: Element, expected: Mapping[str, JID | str | None], own_bare: JID | str
) -> ArchivedMessage | None:
    """The archived message in `message`, None when it carries no result, or raise.

    `expected` maps each `queryid` we sent (and haven't seen the fin of) to
    the archive queried: a room's JID, or our own bare JID (or None) for our
    archive. `ForgedStanza`: an unknown `queryid`, or a `from` other than
    that archive (no `from` is accepted for our own archive only).
    `ProtocolError`: no archive id, or not exactly one forwarded message.
    """
    results = message.find_all("result", NS)
    if not results:
        return None
    if len(results) != 1:
        raise ProtocolError("message with several archive results")
    result = results[0]
    query_id = result.get("queryid")
    if query_id is None or query_id not in expected:
        raise ForgedStanza(f"archive result for a query we didn't send ({query_id})")
    own = normalised(own_bare)
    queried = expected[query_id]
    archive = own if queried is None else normalised(queried)
    sender = message.get("from")
    got = own if sender is None else normalised(sender)
    if archive is None or got != archive:
        raise ForgedStanza(f"archive result from {sender}, expected {archive}")
    archive_id = result.get("id")
    if not archive_id:
        raise ProtocolError("archive result without an id")
    forwarded = result.find_all("forwarded", xep_0297.NS)
    if len(forwarded) != 1:
        raise ProtocolError("archive result without exactly one <forwarded/>")
    inner = xep_0297.parse_forwarded(forwarded[0])
    return ArchivedMessage(query_id, archive_id, inner.stamp, inner.message, archive)


def _flag(value: str | None, default: bool) -> bool:
    if value in ("true", "1"):
        return True
    if value in ("false", "0"):
        return False
    return default


def parse_fin(iq: Element) -> Fin:
    """The `<fin/>` of a query's result iq; `ProtocolError` when there is none.

    Check the iq type first: an error iq (see `is_item_not_found`) has no fin.
    """
    fin = iq.find("fin", NS)
    if iq.get("type") != "result" or fin is None:
        raise ProtocolError("archive query answered without <fin/>")
    first = last = None
    count = None
    rsm = fin.find("set", RSM)
    if rsm is not None:
        first = rsm.find_text("first", RSM) or None
        last = rsm.find_text("last", RSM) or None
        count_text = rsm.find_text("count", RSM)
        if count_text and count_text.isdigit() and count_text.isascii():
            count = int(count_text)
    return Fin(
        _flag(fin.get("complete"), False), first, last, count, _flag(fin.get("stable"), True)
    )


def is_item_not_found(iq: Element) -> bool:
    """True for an error iq saying the paged-from id isn't in the archive (a gap)."""
    if iq.get("type") != "error":
        return False
    error = iq.find("error")
    return error is not None and error.find("item-not-found", ns.STANZAS) is not None
