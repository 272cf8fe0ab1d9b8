"""XEP-0004: Data Forms (`jabber:x:data`).

Forms travel inside other protocols: a room's configuration (XEP-0045
muc#owner), extended disco#info (XEP-0128), archive queries (XEP-0313),
PEP publish-options. A form's fields are shown to a person or filled from
code; `build_submit` turns a dict back into a `type="submit"` form.

Values are always kept as strings (what the wire carries): a boolean field
holds "1"/"true" or "0"/"false", read it with `is_true`.
"""

from __future__ import annotations

from roost.xmpp import ns
from roost.xmpp.element import Element
from roost.xmpp.events import Record

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Mapping

NS = ns.DATA_FORMS
FORM_TYPE = "FORM_TYPE"
# Field types that carry several values (the others carry at most one).
MULTI = ("jid-multi", "list-multi", "text-multi")


class Field(Record):
    """One `<field/>`: `var` (None for a "fixed" label), `type` (text-single
    when absent, XEP-0004 §3.3), `label`, `values`, `options` as
    (label, value) pairs for list fields, `required`, `desc`."""

    __slots__ = ("desc", "label", "options", "required", "type", "values", "var")

    def __init__(
        self,
        var: str | None,
        type: str = "text-single",
        label: str | None = None,
        values: list[str] | None = None,
        options: list[tuple[str | None, str]] | None = None,
        required: bool = False,
        desc: str | None = None,
    ) -> None:
        self.var = var
        self.type = type
        self.label = label
        self.values: list[str] = list(values) if values else []
        self.options: list[tuple[str | None, str]] = list(options) if options else []
        self.required = required
        self.desc = desc

    @property
    def value(self) -> str | None:
        """The first value, or None."""
        return self.values[0] if self.values else None


class DataForm(Record):
    """A whole form: `type` (form, submit, cancel, result), `title`,
    `instructions` (one string per element) and `fields` in document order."""

    __slots__ = ("fields", "instructions", "title", "type")

    def __init__(
        self,
        type: str,
        fields: list[Field],
        title: str | None = None,
        instructions: list[str] | None = None,
    ) -> None:
        self.type = type
        self.fields = fields
        self.title = title
        self.instructions: list[str] = list(instructions) if instructions else []

    @property
    def form_type(self) -> str | None:
        """The hidden FORM_TYPE field's value (what the form is about), or None."""
        for field in self.fields:
            if field.var == FORM_TYPE:
                return field.value
        return None

    def values(self) -> dict[str, list[str]]:
        """var → values for every field with a `var` (a repeated var keeps the first)."""
        found: dict[str, list[str]] = {}
        for field in self.fields:
            if field.var is not None and field.var not in found:
                found[field.var] = list(field.values)
        return found


def is_true(value: str | None) -> bool:
    """A boolean field's value (XEP-0004 §3.3: "1"/"true", else false)."""
    return value in ("1", "true")


def parse_field(element: Element) -> Field:
    options: list[tuple[str | None, str]] = []
    for option in element.find_all("option", NS):
        value = option.find_text("value", NS)
        if value is not None:
            options.append((option.get("label") or None, value))
    return Field(
        element.get("var") or None,
        element.get("type") or "text-single",
        element.get("label") or None,
        [v.text for v in element.find_all("value", NS)],
        options,
        element.find("required", NS) is not None,
        element.find_text("desc", NS) or None,
    )


def parse_form(x: Element) -> DataForm:
    """A `DataForm` from an `<x xmlns="jabber:x:data"/>` element.

    Fields inside `<reported/>`/`<item/>` (multi-item results) are not read:
    nothing here asks for such results.
    """
    return DataForm(
        x.get("type") or "form",
        [parse_field(f) for f in x.find_all("field", NS)],
        x.find_text("title", NS) or None,
        [i.text for i in x.find_all("instructions", NS) if i.text],
    )


def find_form(parent: Element, form_type: str | None = None) -> DataForm | None:
    """The first form in `parent` (with that FORM_TYPE, if given), or None."""
    for x in parent.find_all("x", NS):
        form = parse_form(x)
        if form_type is None or form.form_type == form_type:
            return form
    return None


def _text_values(value: str | list[str] | tuple[str, ...] | bool) -> list[str]:
    if isinstance(value, bool):
        return ["1" if value else "0"]
    if isinstance(value, str):
        return [value]
    return [str(v) for v in value]


def build_submit(
    values: Mapping[str, str | list[str] | tuple[str, ...] | bool] | None = None,
    form_type: str | None = None,
) -> Element:
    """A `type="submit"` form: one field per `values` entry (a bool becomes
    "1"/"0", a list gives one `<value/>` each), preceded by the hidden
    FORM_TYPE when given. No values: an empty submit (e.g. XEP-0045's
    "instant room")."""
    x = Element("x", NS, {"type": "submit"})
    if form_type is not None:
        field = x.add("field", attrs={"var": FORM_TYPE, "type": "hidden"})
        field.add("value", text=form_type)
    for var, value in (values or {}).items():
        if var == FORM_TYPE:
            continue
        field = x.add("field", attrs={"var": var})
        for text in _text_values(value):
            field.add("value", text=text)
    return x


def build_cancel() -> Element:
    return Element("x", NS, {"type": "cancel"})
