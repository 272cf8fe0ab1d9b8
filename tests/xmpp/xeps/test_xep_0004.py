"""XEP-0004 data forms: reading fields, building submit forms."""

from __future__ import annotations

from roost.xmpp.xeps import xep_0004
from roost.xmpp.xeps.xep_0004 import DataForm, Field
from roost.xmpp.xmlparse import parse_xml

# Abridged from Prosody 0.12's muc#owner configuration form.
PROSODY_CONFIG = (
    '<x xmlns="jabber:x:data" type="form"><title>Configuration for room</title>'
    "<instructions>Complete and submit this form</instructions>"
    '<field var="FORM_TYPE" type="hidden">'
    "<value>http://jabber.org/protocol/muc#roomconfig</value></field>"
    '<field type="fixed"><value>Room information</value></field>'
    '<field var="muc#roomconfig_roomname" type="text-single" label="Title"/>'
    '<field var="muc#roomconfig_persistentroom" type="boolean" label="Persistent">'
    "<value>1</value></field>"
    '<field var="muc#roomconfig_whois" type="list-single" label="Addresses visible to">'
    '<option label="Moderators only"><value>moderators</value></option>'
    '<option label="Everyone"><value>anyone</value></option>'
    "<value>moderators</value><required/><desc>Who sees real JIDs</desc></field>"
    '<field var="muc#roomconfig_roomadmins" type="jid-multi">'
    "<value>a@example.org</value><value>b@example.org</value></field>"
    "</x>"
)


def test_parse_a_real_form() -> None:
    form = xep_0004.parse_form(parse_xml(PROSODY_CONFIG))
    assert form.type == "form"
    assert form.title == "Configuration for room"
    assert form.instructions == ["Complete and submit this form"]
    assert form.form_type == "http://jabber.org/protocol/muc#roomconfig"
    assert form.fields[1] == Field(None, "fixed", values=["Room information"])
    assert form.fields[2] == Field("muc#roomconfig_roomname", "text-single", "Title")
    whois = form.fields[4]
    assert whois.options == [("Moderators only", "moderators"), ("Everyone", "anyone")]
    assert whois.value == "moderators" and whois.required and whois.desc == "Who sees real JIDs"
    assert xep_0004.is_true(form.fields[3].value)
    assert form.values()["muc#roomconfig_roomadmins"] == ["a@example.org", "b@example.org"]
    assert None not in form.values()  # the fixed label has no var


def test_defaults_and_missing_parts() -> None:
    form = xep_0004.parse_form(parse_xml('<x xmlns="jabber:x:data"><field var="a"/></x>'))
    assert form == DataForm("form", [Field("a")])
    assert form.form_type is None and form.fields[0].value is None
    assert not xep_0004.is_true(None) and not xep_0004.is_true("0")
    assert xep_0004.is_true("true") and not xep_0004.is_true("yes")


def test_build_submit_round_trip() -> None:
    x = xep_0004.build_submit(
        {
            "muc#roomconfig_roomname": "Chess <club>",
            "muc#roomconfig_membersonly": True,
            "muc#roomconfig_publicroom": False,
            "muc#roomconfig_roomadmins": ["a@example.org", "b@example.org"],
            "FORM_TYPE": "ignored: given separately",
        },
        "http://jabber.org/protocol/muc#roomconfig",
    )
    form = xep_0004.parse_form(parse_xml(x.to_xml()))
    assert form.type == "submit"
    assert form.form_type == "http://jabber.org/protocol/muc#roomconfig"
    assert form.fields[0].type == "hidden"
    assert form.values() == {
        "FORM_TYPE": ["http://jabber.org/protocol/muc#roomconfig"],
        "muc#roomconfig_roomname": ["Chess <club>"],
        "muc#roomconfig_membersonly": ["1"],
        "muc#roomconfig_publicroom": ["0"],
        "muc#roomconfig_roomadmins": ["a@example.org", "b@example.org"],
    }


def test_empty_submit_and_cancel() -> None:
    assert xep_0004.build_submit().to_xml() == '<x xmlns="jabber:x:data" type="submit"/>'
    assert xep_0004.build_cancel().to_xml() == '<x xmlns="jabber:x:data" type="cancel"/>'


def test_find_form_by_type() -> None:
    query = parse_xml(
        '<query xmlns="q"><x xmlns="jabber:x:data" type="result">'
        '<field var="FORM_TYPE"><value>urn:one</value></field></x>'
        '<x xmlns="jabber:x:data" type="result">'
        '<field var="FORM_TYPE"><value>urn:two</value></field><field var="n"><value>2</value>'
        "</field></x></query>"
    )
    two = xep_0004.find_form(query, "urn:two")
    assert two is not None and two.values()["n"] == ["2"]
    first = xep_0004.find_form(query)
    assert first is not None and first.form_type == "urn:one"
    assert xep_0004.find_form(query, "urn:three") is None
