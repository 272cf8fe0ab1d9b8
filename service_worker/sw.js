/* Roost service worker (plain JS; see DESIGN.md: Brython in a SW costs ~0.3 s per wake-up).
 *
 * Minimal for now: precache the shell; cache-first for content-hashed assets
 * (their names change with their content); network-first for index.html so a
 * new release is picked up, falling back to the cached shell offline.
 * config.json always comes from the network (operators change it), cached
 * only as an offline fallback. build.py writes VERSION and PRECACHE.
 */
"use strict";

var VERSION = "__ROOST_VERSION__";
var __ROOST_PRECACHE__ = [];
var CACHE = "roost-shell-" + VERSION;
var HASHED = /\.[0-9a-f]{8}\.(js|css|png|svg)$/;

self.addEventListener("install", function (event) {
  event.waitUntil(
    caches.open(CACHE).then(function (cache) { return cache.addAll(__ROOST_PRECACHE__); })
      .then(function () { return self.skipWaiting(); })
  );
});

self.addEventListener("activate", function (event) {
  event.waitUntil(
    caches.keys().then(function (keys) {
      return Promise.all(keys.filter(function (k) {
        return k.indexOf("roost-shell-") === 0 && k !== CACHE;
      }).map(function (k) { return caches.delete(k); }));
    }).then(function () { return self.clients.claim(); })
  );
});

function networkFirst(request, fallbackKey) {
  return fetch(request).then(function (response) {
    if (response.ok) {
      var copy = response.clone();
      caches.open(CACHE).then(function (cache) { cache.put(fallbackKey, copy); });
    }
    return response;
  }).catch(function () {
    return caches.match(fallbackKey, { cacheName: CACHE }).then(function (hit) {
      return hit || Response.error();
    });
  });
}

self.addEventListener("fetch", function (event) {
  var request = event.request;
  if (request.method !== "GET") { return; }
  var url = new URL(request.url);
  if (url.origin !== self.location.origin) { return; }
  var scope = new URL(self.registration.scope);
  var path = url.pathname.slice(scope.pathname.length);

  // Only the shell itself is stored under the shell key: any other page a tab
  // opens on this origin (/healthz, an operator's page) must not replace it.
  if (path === "" || path === "index.html") {
    event.respondWith(networkFirst(request, "./"));
    return;
  }
  if (path === "config.json" || path === "manifest.json") {
    event.respondWith(networkFirst(request, path));
    return;
  }
  if (HASHED.test(path)) {
    event.respondWith(caches.match(request, { cacheName: CACHE }).then(function (hit) {
      return hit || fetch(request).then(function (response) {
        if (response.ok) {
          var copy = response.clone();
          caches.open(CACHE).then(function (cache) { cache.put(request, copy); });
        }
        return response;
      });
    }));
  }
});
