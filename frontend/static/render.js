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

  /* One formatter for every row: toLocaleTimeString(locales, options) builds
   * a new Intl.DateTimeFormat per call (the same output, many times slower). */
  var timeFormat = null;
  function clockTime(when) {
    if (timeFormat === null) {
      timeFormat = new Intl.DateTimeFormat([], { hour: "2-digit", minute: "2-digit" });
    }
    return timeFormat.format(when);
  }

  function messageNode(it) {
    var row = el("div", "msg " + (it.outgoing ? "out" : "in") + (it.failed ? " failed" : ""));
    row.dataset.id = str(it.id);
    if (it.sender) {
      var who = el("span", "sender visually-hidden", str(it.sender) + ":");
      row.appendChild(who);
    }
    if (it.nick) {
      /* Rooms: who wrote it (one's own nick only for screen readers). */
      row.appendChild(el("span", it.outgoing ? "nick visually-hidden" : "nick", str(it.nick)));
    }
    if (it.mention) {
      /* Names us: a marked row, and the words, not colour alone. */
      row.classList.add("mention");
      row.appendChild(el("span", "mention-tag", "Mentions you"));
    }
    if (it.encrypted) {
      /* OMEMO: end-to-end encrypted (the words for screen readers, a padlock shown). */
      row.classList.add("encrypted");
      var lock = el("span", "lock", null);
      lock.setAttribute("role", "img");
      lock.setAttribute("aria-label", "Encrypted");
      lock.title = "End-to-end encrypted";
      row.appendChild(lock);
    }
    var body = el("p", "body", str(it.body));
    if (it.e2e_note) {
      /* Why an encrypted message can't be read (or sent): words, not the text. */
      row.classList.add("e2e-problem");
      body.classList.add("e2e-note");
    }
    row.appendChild(body);
    if (it.e2e_detail) { row.appendChild(el("p", "e2e-detail", str(it.e2e_detail))); }
    if (it.send_plain) {
      /* Encryption couldn't be done: only the user may choose plaintext. */
      var plain = el("button", "secondary msg-send-plain", "Send unencrypted");
      plain.type = "button";
      plain.dataset.action = "send-plain";
      row.appendChild(plain);
    }
    if (it.retracted) {
      /* Removed by a room moderator (XEP-0425): `body` is the notice, the
       * moderator's reason (their own words) follows as text. */
      row.classList.add("retracted");
      if (it.retract_reason) {
        row.appendChild(el("p", "retract-reason", "Reason: " + str(it.retract_reason)));
      }
    }
    var when = it.stamp ? new Date(it.stamp) : new Date();
    var meta = el("time", "meta", clockTime(when));
    meta.dateTime = when.toISOString();
    /* XEP-0308: a corrected message says so, in words. */
    if (it.edited) { meta.textContent += " · edited"; }
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
    if (it.can_remove && !it.retracted) {
      /* Room moderators: remove it for everyone (a dialog confirms). */
      var remove = el("button", "secondary msg-remove", "Remove");
      remove.type = "button";
      remove.dataset.action = "remove-message";
      remove.setAttribute("aria-label", it.nick ? "Remove message from " + str(it.nick)
                                                : "Remove message");
      row.appendChild(remove);
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

  /* ---- Windowed message list ------------------------------------------
   *
   * The history of a chat lives in Python (a sorted store with paging); the
   * DOM holds a bounded window of it: at most MAX_ROWS rows, oldest first.
   * Python hands over pages of plain items, in one call each:
   *
   *   {cursor: [stamp_seconds, seq] (ordering key, handed back unchanged),
   *    kind: "message" | "gap", id, body, outgoing, sender,
   *    stamp (ms since epoch), edited, failed, state, state_key,
   *    nick (rooms: the sender's nick), mention (rooms: it names us),
   *    retracted, retract_reason (removed by a room moderator),
   *    can_remove (we moderate the room: a "Remove" button),
   *    encrypted (OMEMO: a padlock), e2e_note (body is why it can't be read
   *    or sent), send_plain (a "Send unencrypted" button: onSendPlain)}
   *
   *   var list = RoostRender.createMessageList(log, {onNeedOlder: f(cursor),
   *                                   onNeedNewer: f(cursor), onGapAction: f(cursor),
   *                                   onRemoveMessage: f(cursor)})
   *   list.reset(items, hasOlder, hasNewer[, focusCursor])
   *   list.prepend(items, hasOlder) -> rows added    (answers onNeedOlder)
   *   list.append(items, hasNewer) -> rows added     (live messages; answers onNeedNewer)
   *   list.insert(items) -> rows added               (back-fill inside the window)
   *   list.update(item) -> bool, list.remove(cursor | id) -> bool
   *   list.setLoading("older" | "newer", on), list.clear(), list.rowCount(),
   *   list.state(), list.destroy()
   *
   * onNeedOlder(firstCursor) / onNeedNewer(lastCursor) are called once when
   * the reader comes within NEAR_SCREENS screens of an edge of the window that
   * has more beyond it, and not again until the answer (prepend / append) or
   * a reset. Answers must be for the chat still shown (the caller checks).
   * Rows never leave a hole: an item beyond an edge that has more beyond it
   * (a live message while the window is scrolled back in history and was
   * trimmed at the bottom, or an answer whose edge was trimmed away
   * meanwhile) is not drawn; append() then returns 0 and the caller may
   * reset() to the newest page (e.g. for the user's own message).
   * Scroll position is kept explicitly: the first visible row is measured
   * before a change and the scroll offset corrected after it, so history
   * arriving above (or rows trimmed above) never moves what is read.
   */
  /* 200 rows: 4 pages of 50, about 23 screens of 600 px; per-page cost grows
   * slowly with the window (prepend 3.5 ms at 100 rows, 3.9 at 200, 4.8 at
   * 400; bench/bench_message_list.py), DOM ~4.4 elements a row. */
  var MAX_ROWS = 200;
  var NEAR_SCREENS = 1.5;
  var STICK_PX = 48;
  var BUSY_MS = 100;

  function cmpCursor(a, b) { return (a[0] - b[0]) || (a[1] - b[1]); }
  function cursorKey(c) { return c[0] + " " + c[1]; }
  function byCursor(a, b) { return cmpCursor(a.cursor, b.cursor); }

  var gapSeq = 0;
  function gapNode(it) {
    var row = el("div", "gap");
    var textId = "roost-gap-" + (++gapSeq);
    var text = el("p", "gap-text", str(it.body) || "Some messages could not be loaded.");
    text.id = textId;
    var retry = el("button", "gap-retry", "Try again");
    retry.type = "button";
    retry.dataset.action = "gap-retry";
    retry.setAttribute("aria-describedby", textId);
    row.appendChild(text);
    row.appendChild(retry);
    return row;
  }

  function createMessageList(log, handlers) {
    handlers = handlers || {};
    var maxRows = handlers.maxRows > 0 ? handlers.maxRows : MAX_ROWS;
    var rows = [];            // {cursor, key, id, node}, oldest first, as in the DOM
    var byKey = new Map();
    var byId = new Map();
    var hasOlder = false;
    var hasNewer = false;
    var wantOlder = false;    // onNeedOlder called, no prepend/reset since
    var wantNewer = false;
    var staleOlder = false;   // the edge asked about was trimmed away meanwhile
    var staleNewer = false;
    var stuck = true;         // at the newest end and scrolled to the bottom
    var loading = { older: null, newer: null };
    var frame = 0;
    var busyFrame = 0;
    var busyTimer = 0;
    var destroyed = false;

    function call(fn, arg) {
      if (typeof fn !== "function") { return false; }
      try { fn(arg); return true; }
      catch (e) { console.error("RoostRender message list: handler failed", e); return false; }
    }

    /* -- rows -- */
    function makeEntry(it) {
      var node = it.kind === "gap" ? gapNode(it) : messageNode(it);
      var entry = { cursor: it.cursor, key: cursorKey(it.cursor), id: str(it.id), node: node };
      node.dataset.cursor = entry.key;
      byKey.set(entry.key, entry);
      if (entry.id) { byId.set(entry.id, entry); }
      return entry;
    }
    function forget(entry) {
      byKey.delete(entry.key);
      if (entry.id && byId.get(entry.id) === entry) { byId.delete(entry.id); }
    }
    function replaceEntry(entry, it) {
      var fresh = it.kind === "gap" ? gapNode(it) : messageNode(it);
      fresh.dataset.cursor = entry.key;
      entry.node.replaceWith(fresh);
      entry.node = fresh;
      var id = str(it.id);
      if (id !== entry.id) {
        if (entry.id && byId.get(entry.id) === entry) { byId.delete(entry.id); }
        entry.id = id;
        if (id) { byId.set(id, entry); }
      }
    }
    function lowerBound(cursor) {   // first index whose cursor >= cursor
      var lo = 0, hi = rows.length;
      while (lo < hi) {
        var mid = (lo + hi) >> 1;
        if (cmpCursor(rows[mid].cursor, cursor) < 0) { lo = mid + 1; } else { hi = mid; }
      }
      return lo;
    }
    function endNode() { return loading.newer; }   // rows go before it (null: at the end)

    function sortedItems(items) {
      var list = [];
      for (var i = 0; i < items.length; i++) {
        var it = items[i];
        if (it && it.cursor && it.cursor.length >= 2) { list.push(it); }
      }
      for (var j = 1; j < list.length; j++) {
        if (byCursor(list[j - 1], list[j]) > 0) { list.sort(byCursor); break; }
      }
      return list;
    }

    /* Place items (sorted) in the window. Rows beyond the top edge are taken
     * when `top` allows, beyond the bottom when `bottom` does; existing
     * cursors are redrawn. Returns how many rows were added. */
    function place(items, top, bottom) {
      var first = rows.length ? rows[0].cursor : null;
      var last = rows.length ? rows[rows.length - 1].cursor : null;
      var above = [], below = [], inside = [], fresh = new Set();
      for (var i = 0; i < items.length; i++) {
        var it = items[i];
        var key = cursorKey(it.cursor);
        var have = byKey.get(key);
        if (have) { replaceEntry(have, it); continue; }
        if (fresh.has(key)) { continue; }        // the same cursor twice in one call
        fresh.add(key);
        if (first === null) { below.push(it); }
        else if (cmpCursor(it.cursor, first) < 0) { if (top) { above.push(it); } }
        else if (cmpCursor(it.cursor, last) > 0) { if (bottom) { below.push(it); } }
        else { inside.push(it); }
      }
      var added = 0, frag, entries, k;
      if (above.length) {
        frag = document.createDocumentFragment();
        entries = [];
        for (k = 0; k < above.length; k++) {
          var e = makeEntry(above[k]);
          entries.push(e);
          frag.appendChild(e.node);
        }
        log.insertBefore(frag, rows[0].node);
        rows = entries.concat(rows);
        added += entries.length;
      }
      for (k = 0; k < inside.length; k++) {
        var at = lowerBound(inside[k].cursor);
        var entry = makeEntry(inside[k]);
        log.insertBefore(entry.node, at < rows.length ? rows[at].node : endNode());
        rows.splice(at, 0, entry);
        added++;
      }
      if (below.length) {
        frag = document.createDocumentFragment();
        for (k = 0; k < below.length; k++) {
          var b = makeEntry(below[k]);
          rows.push(b);
          frag.appendChild(b.node);
        }
        log.insertBefore(frag, endNode());
        added += below.length;
      }
      return added;
    }

    /* -- measuring -- */
    function nearBottom() {
      return log.scrollHeight - log.scrollTop - log.clientHeight < STICK_PX;
    }
    function toBottom() { log.scrollTop = log.scrollHeight; }
    function scrollToTop(entry) {
      var delta = entry.node.getBoundingClientRect().top - log.getBoundingClientRect().top -
                  log.clientTop;
      log.scrollTop += delta;
    }

    /* The first row at least partly visible, and its offset from the top of
     * the list's box (positions are monotonic: binary search). */
    function captureAnchor() {
      if (!rows.length || !log.clientHeight) { return null; }
      var top = log.getBoundingClientRect().top;
      var lo = 0, hi = rows.length - 1;
      while (lo < hi) {
        var mid = (lo + hi) >> 1;
        if (rows[mid].node.getBoundingClientRect().bottom <= top) { lo = mid + 1; } else { hi = mid; }
      }
      var entry = rows[lo];
      return { entry: entry, offset: entry.node.getBoundingClientRect().top - top };
    }
    function restoreAnchor(anchor) {
      if (anchor === null) { return; }
      var entry = anchor.entry;
      if (byKey.get(entry.key) !== entry) { return; }   // the row itself went
      var now = entry.node.getBoundingClientRect().top - log.getBoundingClientRect().top;
      var delta = now - anchor.offset;
      if (Math.abs(delta) >= 0.5) { log.scrollTop += delta; }
    }

    /* How many rows (at most n) from one side lie wholly beyond a screen
     * outside the viewport, so removing them can't touch what is read. */
    function trimmable(side, n) {
      var h = log.clientHeight;
      if (!h) { return n; }                      // hidden: nothing is being read
      var box = log.getBoundingClientRect();
      function far(count) {
        if (side === "top") {
          return rows[count - 1].node.getBoundingClientRect().bottom < box.top - h;
        }
        return rows[rows.length - count].node.getBoundingClientRect().top > box.bottom + h;
      }
      var lo = 0, hi = n;                        // largest count in [0, n] that is far
      while (lo < hi) {
        var mid = (lo + hi + 1) >> 1;
        if (far(mid)) { lo = mid; } else { hi = mid - 1; }
      }
      return lo;
    }
    function drop(side, n) {
      if (n <= 0) { return; }
      var gone = side === "top" ? rows.splice(0, n) : rows.splice(rows.length - n, n);
      for (var i = 0; i < gone.length; i++) { gone[i].node.remove(); forget(gone[i]); }
      if (side === "top") {
        hasOlder = true;
        if (wantOlder) { staleOlder = true; }
      } else {
        hasNewer = true;
        if (wantNewer) { staleNewer = true; }
      }
    }
    /* Keep at most maxRows rows: from the preferred side first, never rows
     * near the viewport (the window may stay over the limit until later). */
    function trim(prefer) {
      var excess = rows.length - maxRows;
      if (excess <= 0) { return false; }
      var n = trimmable(prefer, excess);
      drop(prefer, n);
      excess -= n;
      if (excess > 0) {
        var other = prefer === "top" ? "bottom" : "top";
        drop(other, trimmable(other, excess));
      }
      return true;
    }

    /* -- screen readers: history is not news -- */
    function busy() {
      log.setAttribute("aria-busy", "true");
      if (busyFrame) { cancelAnimationFrame(busyFrame); }
      if (busyTimer) { clearTimeout(busyTimer); busyTimer = 0; }
      busyFrame = requestAnimationFrame(function () {
        busyFrame = 0;
        busyTimer = setTimeout(function () {
          busyTimer = 0;
          log.removeAttribute("aria-busy");
        }, BUSY_MS);
      });
    }

    /* -- edges: ask for more when the reader comes near one -- */
    function scheduleCheck() {
      if (!frame && !destroyed) { frame = requestAnimationFrame(check); }
    }
    function check() {
      frame = 0;
      if (destroyed) { return; }
      var h = log.clientHeight;
      if (!h) { return; }                        // hidden: decide when shown
      stuck = !hasNewer && nearBottom();
      if (!rows.length) { return; }
      if (hasOlder && !wantOlder && log.scrollTop < NEAR_SCREENS * h) {
        wantOlder = true;
        staleOlder = false;
        if (!call(handlers.onNeedOlder, rows[0].cursor)) { wantOlder = false; }
      }
      if (destroyed || !rows.length) { return; }
      if (hasNewer && !wantNewer &&
          log.scrollHeight - log.scrollTop - h < NEAR_SCREENS * h) {
        wantNewer = true;
        staleNewer = false;
        if (!call(handlers.onNeedNewer, rows[rows.length - 1].cursor)) { wantNewer = false; }
      }
    }
    function onScroll() { scheduleCheck(); }
    function onClick(ev) {
      var t = ev.target;
      var button = t && t.closest ? t.closest("button[data-action]") : null;
      if (!button || !log.contains(button)) { return; }
      var action = button.dataset.action;
      var row = button.closest(action === "gap-retry" ? ".gap" : ".msg");
      var entry = row ? byKey.get(row.dataset.cursor) : null;
      if (!entry || entry.node !== row) { return; }
      if (action === "gap-retry") { call(handlers.onGapAction, entry.cursor); }
      else if (action === "remove-message") { call(handlers.onRemoveMessage, entry.cursor); }
      else if (action === "send-plain") { call(handlers.onSendPlain, entry.cursor); }
    }
    var resizer = null;
    if (typeof ResizeObserver === "function") {
      /* Shown after being hidden (phone layout), or resized (keyboard):
       * a reader at the newest message stays there. */
      resizer = new ResizeObserver(function () {
        if (destroyed) { return; }
        if (stuck && !hasNewer) { toBottom(); }
        scheduleCheck();
      });
      resizer.observe(log);
    }
    log.addEventListener("scroll", onScroll, { passive: true });
    log.addEventListener("click", onClick);

    /* Run `change`, then keep the view: at the bottom when `stick`, else the
     * first visible row where it was; trim towards `prefer`. */
    function mutate(stick, prefer, change) {
      var anchor = stick ? null : captureAnchor();
      var result = change();
      if (stick) {
        toBottom();
        trim(prefer);
        toBottom();
      } else {
        /* Back in place first: trimming measures what is near the viewport. */
        restoreAnchor(anchor);
        if (trim(prefer)) { restoreAnchor(anchor); }
      }
      stuck = !hasNewer && (stick || (log.clientHeight > 0 && nearBottom()));
      scheduleCheck();
      return result;
    }
    function atNewestBottom() {
      return !hasNewer && (log.clientHeight ? nearBottom() : stuck);
    }
    function removeLoading() {
      for (var w in loading) {
        if (loading[w]) { loading[w].remove(); loading[w] = null; }
      }
    }

    var api = {
      maxRows: maxRows,

      /* Replace the window. At the bottom unless hasNewer; with hasNewer,
       * `focus` (a cursor, optional) is scrolled to the top, else the top. */
      reset: function (items, older, newer, focus) {
        removeLoading();
        rows = [];
        byKey.clear();
        byId.clear();
        log.replaceChildren();
        hasOlder = !!older;
        hasNewer = !!newer;
        wantOlder = wantNewer = staleOlder = staleNewer = false;
        var list = sortedItems(items || []);
        if (list.length) { busy(); }
        place(list, true, true);
        if (!hasNewer) {
          stuck = true;
          toBottom();
          trim("top");
          toBottom();
        } else {
          stuck = false;
          var target = focus ? byKey.get(cursorKey(focus)) : null;
          log.scrollTop = 0;
          if (target) { scrollToTop(target); }
          trim("bottom");
          if (target) { scrollToTop(target); }
        }
        scheduleCheck();
      },

      /* An older page (the answer to onNeedOlder): on top, the view kept. */
      prepend: function (items, older) {
        var list = sortedItems(items || []);
        /* An answer to a request whose edge was trimmed away meanwhile
         * would leave a hole: only rows inside the window are taken then. */
        var take = !(wantOlder && staleOlder);
        wantOlder = staleOlder = false;
        if (take) { hasOlder = !!older; }
        if (!list.length) { scheduleCheck(); return 0; }
        busy();
        return mutate(false, "bottom", function () { return place(list, take, !hasNewer); });
      },

      /* Newer messages: a live one (the window is at the newest end) or a
       * newer page (the answer to onNeedNewer). */
      append: function (items, newer) {
        var list = sortedItems(items || []);
        var live = !hasNewer;
        var answered = wantNewer && !staleNewer;
        var take = answered || live;
        var stick = live && (atNewestBottom() ||
                             list.some(function (m) { return !!m.outgoing; }));
        wantNewer = staleNewer = false;
        if (take) { hasNewer = !!newer; }
        if (!list.length) { scheduleCheck(); return 0; }
        if (!live) { busy(); }                   // a page of history, not news
        return mutate(stick && !hasNewer, "top", function () {
          return place(list, !hasOlder, take);
        });
      },

      /* Entries that belong inside the window (archive back-fill). */
      insert: function (items) {
        var list = sortedItems(items || []);
        if (!list.length) { return 0; }
        busy();
        var stick = atNewestBottom();
        return mutate(stick, stick ? "top" : "bottom", function () {
          return place(list, !hasOlder, !hasNewer);
        });
      },

      /* Redraw the row with the item's cursor (or id); false if not drawn. */
      update: function (it) {
        if (!it) { return false; }
        var entry = it.cursor && it.cursor.length >= 2 ? byKey.get(cursorKey(it.cursor)) : null;
        if (!entry && str(it.id)) { entry = byId.get(str(it.id)) || null; }
        if (!entry) { return false; }
        var stick = atNewestBottom();
        mutate(stick, "top", function () {
          if (it.cursor && it.cursor.length >= 2 && cursorKey(it.cursor) !== entry.key) {
            removeEntry(entry);                 // moved: draw it where it now belongs
            place([it], !hasOlder, !hasNewer);
          } else {
            replaceEntry(entry, it);
          }
        });
        return true;
      },

      /* Remove the row with this cursor (or this id, given a string). */
      remove: function (cursor) {
        var entry = typeof cursor === "string" ? byId.get(cursor)
                  : (cursor && cursor.length >= 2 ? byKey.get(cursorKey(cursor)) : null);
        if (!entry) { return false; }
        var stick = atNewestBottom();
        var anchor = stick ? null : captureAnchor();
        if (anchor !== null && anchor.entry === entry) {
          /* The next row moves up into its place; without one, the previous
           * row doesn't move at all. */
          var i = rows.indexOf(entry);
          if (i + 1 < rows.length) { anchor = { entry: rows[i + 1], offset: anchor.offset }; }
          else { anchor = null; }
        }
        removeEntry(entry);
        if (stick) { toBottom(); } else { restoreAnchor(anchor); }
        scheduleCheck();
        return true;
      },

      /* A small status row, "Loading older messages…" on top or
       * "Loading newer messages…" at the bottom. */
      setLoading: function (which, on) {
        if (which !== "older" && which !== "newer") { return; }
        on = !!on;
        if (!!loading[which] === on) { return; }
        var stick = which === "newer" ? false : atNewestBottom();
        mutate(stick, "top", function () {
          if (on) {
            var row = el("div", "list-status",
                         which === "older" ? "Loading older messages…" : "Loading newer messages…");
            row.setAttribute("role", "status");
            row.dataset.loading = which;
            loading[which] = row;
            if (which === "older") { log.insertBefore(row, log.firstChild); }
            else { log.appendChild(row); }
          } else {
            loading[which].remove();
            loading[which] = null;
          }
        });
      },

      clear: function () {
        removeLoading();
        rows = [];
        byKey.clear();
        byId.clear();
        log.replaceChildren();
        hasOlder = hasNewer = false;
        wantOlder = wantNewer = staleOlder = staleNewer = false;
        stuck = true;
      },

      rowCount: function () { return rows.length; },

      /* For tests and the Python side: where the window stands. */
      state: function () {
        return { rows: rows.length, hasOlder: hasOlder, hasNewer: hasNewer,
                 wantOlder: wantOlder, wantNewer: wantNewer, stuck: stuck,
                 first: rows.length ? rows[0].cursor : null,
                 last: rows.length ? rows[rows.length - 1].cursor : null };
      },

      destroy: function () {
        destroyed = true;
        log.removeEventListener("scroll", onScroll, { passive: true });
        log.removeEventListener("click", onClick);
        if (resizer) { resizer.disconnect(); }
        if (frame) { cancelAnimationFrame(frame); frame = 0; }
        if (busyFrame) { cancelAnimationFrame(busyFrame); busyFrame = 0; }
        if (busyTimer) { clearTimeout(busyTimer); busyTimer = 0; }
        log.removeAttribute("aria-busy");
      }
    };

    function removeEntry(entry) {
      var i = rows.indexOf(entry);
      if (i >= 0) { rows.splice(i, 1); }
      entry.node.remove();
      forget(entry);
    }

    return api;
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

  /* ---- Rooms (ui/rooms.py) ---------------------------------------------- */

  /* items: [{jid, name, address, state, state_text, unread, mentions, active}]
   * One button per room (data-room = its JID); `state_text` is a short label
   * for a room that is not simply joined ("Joining…", "Couldn't join"). */
  function renderRooms(ul, items) {
    var frag = document.createDocumentFragment();
    for (var i = 0; i < items.length; i++) {
      var it = items[i];
      var nameId = "room-" + i + "-name";
      var infoId = "room-" + i + "-info";
      var li = el("li", "contact room");
      li.dataset.room = str(it.jid);
      li.setAttribute("aria-labelledby", nameId);
      var btn = el("button", "contact-button");
      btn.type = "button";
      btn.dataset.room = str(it.jid);
      btn.setAttribute("aria-labelledby", nameId);
      if (it.active) { btn.setAttribute("aria-current", "true"); li.classList.add("active"); }
      var avatar = el("span", "avatar room-avatar", "#");
      avatar.setAttribute("aria-hidden", "true");
      var text = el("span", "contact-text");
      var name = el("span", "contact-name", str(it.name) || str(it.jid));
      name.id = nameId;
      var info = el("span", "contact-preview", str(it.address));
      info.id = infoId;
      var described = [infoId];
      text.appendChild(name);
      text.appendChild(info);
      btn.appendChild(avatar);
      btn.appendChild(text);
      if (it.state_text) {
        var state = el("span", "room-state room-state-" + str(it.state), str(it.state_text));
        state.id = "room-" + i + "-state";
        described.push(state.id);
        btn.appendChild(state);
      }
      if (it.mentions) {
        var at = el("span", "badge mention-badge", "@" + it.mentions);
        at.id = "room-" + i + "-mentions";
        at.setAttribute("aria-label", it.mentions + (it.mentions === 1 ? " mention" : " mentions"));
        described.push(at.id);
        btn.appendChild(at);
      }
      if (it.unread) {
        var badge = el("span", "badge", String(it.unread));
        badge.id = "room-" + i + "-unread";
        badge.setAttribute("aria-label", it.unread + " unread");
        described.push(badge.id);
        btn.appendChild(badge);
      }
      btn.setAttribute("aria-describedby", described.join(" "));
      li.appendChild(btn);
      frag.appendChild(li);
    }
    ul.replaceChildren(frag);
  }

  /* groups: [{title, items: [{nick, presence, presence_text, affiliation_text,
   *           jid, self, message, kick, ban}]}]
   * A heading and a list per group (by role). `message` / `kick` / `ban`:
   * this occupant gets that button (data-action, data-nick), named
   * "Message <nick>" (a private chat), "Kick <nick>". */
  function renderOccupants(box, groups) {
    var frag = document.createDocumentFragment();
    var n = 0;
    for (var g = 0; g < groups.length; g++) {
      var group = groups[g];
      if (!group.items.length) { continue; }
      var section = el("section", "occupant-group");
      var headId = "occupants-group-" + g;
      var head = el("h4", "occupant-group-title", str(group.title) + " (" + group.items.length + ")");
      head.id = headId;
      section.setAttribute("aria-labelledby", headId);
      var ul = el("ul", "occupant-list");
      ul.setAttribute("role", "list");
      ul.setAttribute("aria-labelledby", headId);
      for (var i = 0; i < group.items.length; i++) {
        var it = group.items[i];
        var nickId = "occupant-" + (n++) + "-nick";
        var li = el("li", "occupant");
        li.dataset.nick = str(it.nick);
        li.setAttribute("aria-labelledby", nickId);
        var dot = el("span", "dot " + (PRESENCE_CLASS[it.presence] || "p-online"));
        dot.setAttribute("aria-hidden", "true");
        var text = el("span", "occupant-text");
        var line = el("span", "occupant-line");
        var nick = el("span", "occupant-nick", str(it.nick));
        nick.id = nickId;
        line.appendChild(nick);
        if (it.self) { line.appendChild(el("span", "occupant-self", " (you)")); }
        if (it.affiliation_text) {
          line.appendChild(el("span", "occupant-affiliation", str(it.affiliation_text)));
        }
        text.appendChild(line);
        var details = str(it.presence_text);
        if (it.jid) { details = details ? details + " · " + str(it.jid) : str(it.jid); }
        if (details) { text.appendChild(el("span", "occupant-details", details)); }
        li.appendChild(dot);
        li.appendChild(text);
        if (it.message || it.kick || it.ban) {
          var actions = el("span", "occupant-actions");
          var kinds = [["message", "Message", it.message], ["kick", "Kick", it.kick],
                       ["ban", "Ban", it.ban]];
          for (var k = 0; k < kinds.length; k++) {
            if (!kinds[k][2]) { continue; }
            var b = el("button", "secondary occupant-" + kinds[k][0], kinds[k][1]);
            b.type = "button";
            b.id = nickId + "-" + kinds[k][0];
            b.dataset.action = kinds[k][0];
            b.dataset.nick = str(it.nick);
            b.setAttribute("aria-labelledby", b.id + " " + nickId);
            actions.appendChild(b);
          }
          li.appendChild(actions);
        }
        ul.appendChild(li);
      }
      section.appendChild(head);
      section.appendChild(ul);
      frag.appendChild(section);
    }
    box.replaceChildren(frag);
  }

  /* items: [{jid, name, description, occupants (number or null)}];
   * draws those matching `filter` (name, address or description, any case),
   * at most `limit`. Returns {shown, matched}. Filtering happens here: typing
   * in the filter costs no Python and no conversion of the list. */
  function renderDirectory(ul, items, filter, limit) {
    var needle = str(filter).trim().toLowerCase();
    var frag = document.createDocumentFragment();
    var matched = 0, shown = 0;
    for (var i = 0; i < items.length; i++) {
      var it = items[i];
      if (needle) {
        var hay = (str(it.name) + "\n" + str(it.jid) + "\n" + str(it.description)).toLowerCase();
        if (hay.indexOf(needle) < 0) { continue; }
      }
      matched++;
      if (limit > 0 && shown >= limit) { continue; }
      shown++;
      var nameId = "dir-" + i + "-name";
      var li = el("li", "dir-room");
      li.dataset.room = str(it.jid);
      li.setAttribute("aria-labelledby", nameId);
      var text = el("div", "dir-text");
      var name = el("span", "dir-name", str(it.name) || str(it.jid));
      name.id = nameId;
      text.appendChild(name);
      text.appendChild(el("span", "dir-address", str(it.jid)));
      if (it.description) { text.appendChild(el("p", "dir-description", str(it.description))); }
      if (typeof it.occupants === "number") {
        text.appendChild(el("span", "dir-count",
                            it.occupants + (it.occupants === 1 ? " person" : " people")));
      }
      var join = el("button", "dir-join", "Join");
      join.type = "button";
      join.id = "dir-" + i + "-join";
      join.dataset.room = str(it.jid);
      join.setAttribute("aria-labelledby", join.id + " " + nameId);
      li.appendChild(text);
      li.appendChild(join);
      frag.appendChild(li);
    }
    ul.replaceChildren(frag);
    return { shown: shown, matched: matched };
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
    createMessageList: createMessageList,
    MESSAGE_LIST_MAX_ROWS: MAX_ROWS,
    renderRequests: renderRequests,
    renderRooms: renderRooms,
    renderOccupants: renderOccupants,
    renderDirectory: renderDirectory,
    parseXml: parseXml
  };
})();
