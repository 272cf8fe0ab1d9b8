/* Roost snapshot: plain JS, run (not deferred) right after #main-screen is parsed.
 *
 * On a trusted device whose login Roost remembers, the Python UI keeps a
 * small snapshot of the conversation list in localStorage "roost-snapshot"
 * (roost/platform/remembered.py): {v: 1, account, active, contacts: [[jid,
 * name, preview, unread], ...]}. Drawing it here shows the main screen and
 * the last conversations at once, before Brython has started (a warm start
 * from the service worker cache); the Python UI keeps this list until it has
 * read the stored one, then draws its own in its place. Without a snapshot
 * (untrusted sessions never write one) nothing happens.
 *
 * Stored text is drawn as text (textContent) only, never as HTML.
 */
(function () {
  "use strict";

  var OFFLINE = "Offline — messages will be sent when you're back online";
  var data = null;
  try {
    data = JSON.parse(window.localStorage.getItem("roost-snapshot") || "null");
  } catch (err) {
    return;  // storage disabled or unreadable: the login screen, as without one
  }
  if (!data || data.v !== 1 || typeof data.account !== "string" || !data.account) { return; }
  var rows = Array.isArray(data.contacts) ? data.contacts : [];

  function str(v) { return v === undefined || v === null ? "" : String(v); }

  function el(tag, cls, text) {
    var node = document.createElement(tag);
    if (cls) { node.className = cls; }
    if (text !== undefined) { node.textContent = str(text); }
    return node;
  }

  function initial(name) {
    var s = str(name).trim();
    return s ? Array.from(s)[0].toUpperCase() : "?";
  }

  // The same markup as render.js renderContacts, every contact "Offline"
  // (no presence is known before the connection).
  function contactItem(row, i) {
    var jid = str(row[0]), name = str(row[1]) || jid, preview = str(row[2]);
    var unread = Number(row[3]) || 0;
    var nameId = "contact-" + i + "-name", stateId = "contact-" + i + "-state";
    var li = el("li", "contact");
    li.dataset.jid = jid;
    li.setAttribute("aria-labelledby", nameId);
    var btn = el("button", "contact-button");
    btn.type = "button";
    btn.dataset.jid = jid;
    btn.setAttribute("aria-labelledby", nameId);
    btn.setAttribute("aria-describedby", stateId);
    if (jid === data.active) { btn.setAttribute("aria-current", "true"); li.classList.add("active"); }
    var avatar = el("span", "avatar", initial(name));
    avatar.setAttribute("aria-hidden", "true");
    var dot = el("span", "dot p-offline");
    dot.setAttribute("aria-hidden", "true");
    avatar.appendChild(dot);
    var text = el("span", "contact-text");
    var nameEl = el("span", "contact-name", name);
    nameEl.id = nameId;
    var state = el("span", "contact-state", "Offline");
    state.id = stateId;
    text.appendChild(nameEl);
    text.appendChild(state);
    if (preview) {
      var p = el("span", "contact-preview", preview);
      p.id = "contact-" + i + "-preview";
      btn.setAttribute("aria-describedby", stateId + " " + p.id);
      text.appendChild(p);
    }
    btn.appendChild(avatar);
    btn.appendChild(text);
    if (unread > 0) {
      var badge = el("span", "badge", String(unread));
      badge.setAttribute("aria-label", unread + " unread");
      btn.appendChild(badge);
    }
    li.appendChild(btn);
    return li;
  }

  var app = document.getElementById("app");
  var list = document.getElementById("contacts");
  var login = document.getElementById("login-screen");
  var main = document.getElementById("main-screen");
  if (!app || !list || !login || !main) { return; }
  var frag = document.createDocumentFragment();
  for (var i = 0; i < rows.length; i++) {
    if (Array.isArray(rows[i])) { frag.appendChild(contactItem(rows[i], i)); }
  }
  list.replaceChildren(frag);
  var empty = document.getElementById("contacts-empty");
  if (empty) { empty.hidden = rows.length > 0; }
  var own = document.getElementById("own-address");
  if (own) { own.textContent = data.account; }
  var conn = document.getElementById("conn-state");
  if (conn) { conn.textContent = navigator.onLine === false ? OFFLINE : "Connecting…"; }
  login.hidden = true;
  main.hidden = false;
  app.dataset.screen = "main";
  app.dataset.view = "list";
  window.RoostSnapshot = { account: data.account, rows: rows.length };
  if (window.performance && performance.mark) { performance.mark("roost-snapshot"); }
})();
