/* Roost service worker, push part (plain JS; build.py appends it to sw.js).
 *
 * push: the payload is the JSON Roost's push component sent
 *   {v: 1, account, sender?, body?, count?, quiet?}
 * (sender and body only as far as the user's privacy choice and the server
 * allow). No notification when a visible, focused Roost window shows that
 * conversation (the window is asked: platform/push.py answers); otherwise
 * one per conversation (tag), replacing the previous one. Every push shows
 * something else: Chrome's userVisibleOnly subscriptions require it.
 *
 * notificationclick: focus a Roost window and open the chat by navigating it
 * to ./#xmpp:<sender> (the page's link handling opens it), or open a new
 * window there; with no sender, just focus (or open) Roost.
 */
"use strict";

var ROOST_SCREEN_QUESTION = "roost-screen";
var ROOST_SUBSCRIPTION_CHANGED = "roost-push-subscription";
var ROOST_OPEN = "roost-open";
// A window busy enough not to answer in this time is treated as not showing the chat.
var ROOST_SCREEN_TIMEOUT_MS = 1000;

function roostBare(jid) {
  var slash = jid.indexOf("/");
  return slash < 0 ? jid : jid.slice(0, slash);
}

function roostPushData(event) {
  var data = null;
  try {
    data = event.data ? event.data.json() : null;
  } catch (err) {
    data = null;  // not JSON: still notify (generic text)
  }
  if (!data || typeof data !== "object") { data = {}; }
  return {
    account: typeof data.account === "string" ? data.account : "",
    sender: typeof data.sender === "string" && data.sender ? roostBare(data.sender) : "",
    body: typeof data.body === "string" ? data.body : "",
    count: typeof data.count === "number" ? data.count : 0,
    // A room message that doesn't mention us: shown without sound.
    quiet: data.quiet === true
  };
}

// Asks one window which conversation it shows: {account, conversation} or null.
function roostAskScreen(client) {
  return new Promise(function (resolve) {
    var channel = new MessageChannel();
    var timer = setTimeout(function () { resolve(null); }, ROOST_SCREEN_TIMEOUT_MS);
    channel.port1.onmessage = function (ev) {
      clearTimeout(timer);
      resolve(ev.data || null);
    };
    try {
      client.postMessage({ type: ROOST_SCREEN_QUESTION }, [channel.port2]);
    } catch (err) {
      clearTimeout(timer);
      resolve(null);
    }
  });
}

function roostChatOnScreen(push) {
  if (!push.sender) { return Promise.resolve(false); }
  return self.clients.matchAll({ type: "window" }).then(function (windows) {
    var looking = windows.filter(function (c) {
      return c.visibilityState === "visible" && c.focused;
    });
    return Promise.all(looking.map(roostAskScreen)).then(function (answers) {
      return answers.some(function (a) {
        return a && a.conversation === push.sender &&
          (!push.account || !a.account || a.account === push.account);
      });
    });
  });
}

function roostIcon() {
  // The 192 px icon from the precache list sw.js carries (content-hashed name).
  var list = typeof __ROOST_PRECACHE__ !== "undefined" ? __ROOST_PRECACHE__ : [];
  for (var i = 0; i < list.length; i++) {
    if (/icon-192(\.[0-9a-f]{8})?\.png$/.test(list[i])) {
      return new URL(list[i], self.registration.scope).href;
    }
  }
  return undefined;
}

function roostNotify(push) {
  var title = push.sender || "Roost";
  var body = push.body || "New message";
  var options = {
    body: body,
    // One notification per conversation: a new message replaces the last.
    tag: "roost:" + push.account + ":" + push.sender,
    renotify: !push.quiet,
    silent: push.quiet,
    data: { url: push.sender ? "./#xmpp:" + push.sender : "./", account: push.account,
            sender: push.sender }
  };
  var icon = roostIcon();
  if (icon) { options.icon = icon; }
  return self.registration.showNotification(title, options);
}

self.addEventListener("push", function (event) {
  var push = roostPushData(event);
  event.waitUntil(
    roostChatOnScreen(push).catch(function () { return false; }).then(function (onScreen) {
      if (!onScreen) { return roostNotify(push); }
      return undefined;
    })
  );
});

self.addEventListener("notificationclick", function (event) {
  event.notification.close();
  var data = event.notification.data || {};
  var scope = self.registration.scope;
  var target = new URL(data.url || "./", scope).href;
  var toChat = Boolean(data.sender);
  event.waitUntil(
    self.clients.matchAll({ type: "window" }).then(function (windows) {
      var mine = windows.filter(function (c) { return c.url.indexOf(scope) === 0; });
      if (mine.length === 0) { return self.clients.openWindow(target); }
      var chosen = mine.filter(function (c) { return c.focused; })[0] ||
        mine.filter(function (c) { return c.visibilityState === "visible"; })[0] || mine[0];
      return chosen.focus().then(function (focused) {
        var client = focused || chosen;
        if (!toChat) { return client; }
        // Navigating to the same document with another hash is a hash
        // change, not a reload: the session on that page stays. Already
        // there (an earlier click), no hashchange would fire: ask the page.
        if (client.url !== target) { return client.navigate(target); }
        client.postMessage({ type: ROOST_OPEN, url: target });
        return client;
      });
    })
  );
});

// The push service replaced the subscription: open windows register the new one.
self.addEventListener("pushsubscriptionchange", function (event) {
  event.waitUntil(
    self.clients.matchAll({ type: "window" }).then(function (windows) {
      windows.forEach(function (c) { c.postMessage({ type: ROOST_SUBSCRIPTION_CHANGED }); });
    })
  );
});
