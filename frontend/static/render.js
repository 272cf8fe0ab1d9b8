/* RoostRender: the one batched path from Python data to list DOM.
 *
 * Python (roost.ui) calls these with lists of plain dicts, which Brython hands
 * over as JS arrays of objects. Everything user-controlled goes through
 * textContent or setAttribute on inert attributes; never innerHTML.
 */
(function () {
  "use strict";

  function el(tag, cls, text) {
    var node = document.createElement(tag);
    if (cls) { node.className = cls; }
    if (text !== undefined && text !== null) { node.textContent = String(text); }
    return node;
  }

  function str(v) { return v === undefined || v === null ? "" : String(v); }

  function initial(name) {
    var s = str(name).trim();
    if (!s) { return "?"; }
    var first = Array.from(s)[0];
    return first.toUpperCase();
  }

  var PRESENCE_CLASS = { online: "p-online", chat: "p-online", away: "p-away", xa: "p-away",
                         dnd: "p-dnd", offline: "p-offline" };

  /* items: [{jid, name, presence, presence_text, preview, unread, active}] */
  function renderContacts(ul, items) {
    var frag = document.createDocumentFragment();
    for (var i = 0; i < items.length; i++) {
      var it = items[i];
      var nameId = "contact-" + i + "-name";
      var stateId = "contact-" + i + "-state";
      var li = el("li", "contact");
      li.dataset.jid = str(it.jid);
      li.setAttribute("aria-labelledby", nameId);
      var btn = el("button", "contact-button");
      btn.type = "button";
      btn.dataset.jid = str(it.jid);
      btn.setAttribute("aria-labelledby", nameId);
      btn.setAttribute("aria-describedby", stateId);
      if (it.active) { btn.setAttribute("aria-current", "true"); li.classList.add("active"); }
      var avatar = el("span", "avatar", initial(it.name));
      avatar.setAttribute("aria-hidden", "true");
      var dot = el("span", "dot " + (PRESENCE_CLASS[it.presence] || "p-offline"));
      dot.setAttribute("aria-hidden", "true");
      avatar.appendChild(dot);
      var text = el("span", "contact-text");
      var name = el("span", "contact-name", str(it.name) || str(it.jid));
      name.id = nameId;
      var state = el("span", "contact-state", str(it.presence_text));
      state.id = stateId;
      text.appendChild(name);
      text.appendChild(state);
      if (it.preview) {
        var preview = el("span", "contact-preview", str(it.preview));
        preview.id = "contact-" + i + "-preview";
        btn.setAttribute("aria-describedby", stateId + " " + preview.id);
        text.appendChild(preview);
      }
      btn.appendChild(avatar);
      btn.appendChild(text);
      if (it.unread) {
        var badge = el("span", "badge", String(it.unread));
        badge.setAttribute("aria-label", it.unread + " unread");
        btn.appendChild(badge);
      }
      li.appendChild(btn);
      frag.appendChild(li);
    }
    ul.replaceChildren(frag);
  }

  function messageNode(it) {
    var row = el("div", "msg " + (it.outgoing ? "out" : "in") + (it.failed ? " failed" : ""));
    row.dataset.id = str(it.id);
    if (it.sender) {
      var who = el("span", "sender visually-hidden", str(it.sender) + ":");
      row.appendChild(who);
    }
    row.appendChild(el("p", "body", str(it.body)));
    var when = it.stamp ? new Date(it.stamp) : new Date();
    var meta = el("time", "meta", when.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" }));
    meta.dateTime = when.toISOString();
    if (it.failed) { meta.textContent += " · " + str(it.failed); }
    row.appendChild(meta);
    if (it.state) {
      /* Where an own message is, in words: "Sent" / "On server". */
      var state = el("span", "state", null);
      state.dataset.state = str(it.state_key);
      state.appendChild(el("span", "visually-hidden", "Status: "));
      state.appendChild(document.createTextNode(str(it.state)));
      row.appendChild(state);
    }
    return row;
  }

  /* Replace the row of message `it.id`; false when no such row is drawn. */
  function updateMessage(log, it) {
    var id = str(it.id);
    if (!id) { return false; }
    var rows = log.children;
    for (var i = rows.length - 1; i >= 0; i--) {
      if (rows[i].dataset.id === id) {
        rows[i].replaceWith(messageNode(it));
        return true;
      }
    }
    return false;
  }

  function nearBottom(log) {
    return log.scrollHeight - log.scrollTop - log.clientHeight < 48;
  }

  /* items: [{id, body, outgoing, sender, stamp (ms since epoch), failed,
   *          state (own messages: text of their state), state_key}] */
  function appendMessages(log, items) {
    var stick = nearBottom(log);
    var frag = document.createDocumentFragment();
    for (var i = 0; i < items.length; i++) { frag.appendChild(messageNode(items[i])); }
    log.appendChild(frag);
    if (stick || items.some(function (m) { return m.outgoing; })) {
      log.scrollTop = log.scrollHeight;
    }
  }

  function renderMessages(log, items) {
    log.replaceChildren();
    appendMessages(log, items);
    log.scrollTop = log.scrollHeight;
  }

  /* items: [{jid, name, status}] -> "X wants to see your status" cards; `status`
   * is the requester's own text (their subscribe presence), shown as text. */
  function renderRequests(section, items) {
    var frag = document.createDocumentFragment();
    for (var i = 0; i < items.length; i++) {
      var it = items[i];
      var card = el("div", "request");
      card.setAttribute("role", "group");
      var textId = "request-" + i + "-text";
      card.setAttribute("aria-labelledby", textId);
      var p = el("p", "request-text", str(it.name || it.jid) + " wants to see your status");
      p.id = textId;
      card.appendChild(p);
      if (it.status) {
        var note = el("p", "request-status", str(it.status));
        note.id = "request-" + i + "-status";
        card.setAttribute("aria-describedby", note.id);
        card.appendChild(note);
      }
      var approve = el("button", "approve", "Approve");
      approve.type = "button";
      approve.dataset.action = "approve";
      approve.dataset.jid = str(it.jid);
      var deny = el("button", "deny", "Deny");
      deny.type = "button";
      deny.dataset.action = "deny";
      deny.dataset.jid = str(it.jid);
      card.appendChild(approve);
      card.appendChild(deny);
      frag.appendChild(card);
    }
    section.replaceChildren(frag);
  }

  /* Convert a DOMParser document element into nested arrays, in one call:
   * [localName, namespaceURI, [[attrName, value], ...], text, [children...]]
   * Namespace declarations (xmlns, xmlns:*) are skipped; xml:lang is kept
   * as "xml:lang"; other prefixed attributes keep their qualified name.
   * Returns null when the document is a parser error. */
  var XMLNS_NS = "http://www.w3.org/2000/xmlns/";
  var XML_NS = "http://www.w3.org/XML/1998/namespace";
  function convert(node) {
    var attrs = [];
    var a = node.attributes;
    for (var i = 0; i < a.length; i++) {
      var at = a[i];
      if (at.namespaceURI === XMLNS_NS) { continue; }
      if (at.namespaceURI === XML_NS) { attrs.push(["xml:" + at.localName, at.value]); continue; }
      attrs.push([at.namespaceURI ? at.name : at.localName, at.value]);
    }
    var text = "";
    var children = [];
    for (var c = node.firstChild; c !== null; c = c.nextSibling) {
      var t = c.nodeType;
      if (t === 1) { children.push(convert(c)); }
      else if (t === 3 || t === 4) { text += c.data; }
    }
    return [node.localName, node.namespaceURI || "", attrs, text, children];
  }
  // Chromium/WebKit put an XHTML <parsererror> into the document, Firefox its own.
  var PARSERERROR_NS = ["http://www.w3.org/1999/xhtml",
                        "http://www.mozilla.org/newlayout/xml/parsererror.xml"];
  var parser = null;
  function parseXml(text) {
    if (parser === null) { parser = new DOMParser(); }
    var doc = parser.parseFromString(text, "text/xml");
    var root = doc.documentElement;
    if (!root || root.localName === "parsererror") { return null; }
    for (var i = 0; i < PARSERERROR_NS.length; i++) {
      if (doc.getElementsByTagNameNS(PARSERERROR_NS[i], "parsererror").length) { return null; }
    }
    // Restricted XML (RFC 6120 §11.1): no DTD, comments or processing instructions.
    for (var n = doc.firstChild; n !== null; n = n.nextSibling) {
      if (n.nodeType !== 1) { return null; }
    }
    var walker = doc.createTreeWalker(root, 0x80 | 0x40 /* comments | PIs */);
    if (walker.nextNode()) { return null; }
    return convert(root);
  }

  window.RoostRender = {
    renderContacts: renderContacts,
    appendMessages: appendMessages,
    renderMessages: renderMessages,
    updateMessage: updateMessage,
    renderRequests: renderRequests,
    parseXml: parseXml
  };
})();
