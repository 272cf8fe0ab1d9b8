/* Roost service worker, shell part (plain JS; see DESIGN.md: Brython in a SW
 * costs ~0.3 s per wake-up). build.py writes VERSION and __ROOST_PRECACHE__
 * and appends the other service_worker/*.js files (push.js) after this one.
 *
 * One release = one cache ("roost-shell-<VERSION>") holding that release's
 * index.html, manifest and content-hashed assets. The page is always served
 * from the cache of the worker that controls it, so it never runs an old
 * index.html with new assets or the other way round:
 * - index.html ("./") is cache-first from this worker's own cache (the network
 *   only when it is missing there). A new release reaches the page through a
 *   new worker, never through a fresh index.html under an old one.
 * - VERSION is a hash of every precached file and of the worker's sources, so
 *   any change to them makes a new sw.js, which the browser installs into a new
 *   cache next to the old one.
 * - The new worker then waits while a page is open: boot.js shows "Update
 *   available — Reload", and only that button sends {type: "skipWaiting"}. The
 *   very first install (no page controlled yet) activates at once; a waiting
 *   worker also takes over by itself once every Roost window is closed.
 * - On activation the caches of other releases are deleted.
 * config.json always comes from the network (operators change it), with the
 * last copy as an offline fallback.
 */
"use strict";

var VERSION = "__ROOST_VERSION__";
var __ROOST_PRECACHE__ = [];
var CACHE_PREFIX = "roost-shell-";
var CACHE = CACHE_PREFIX + VERSION;
var HASHED = /\.[0-9a-f]{8}\.(js|css|png|svg)$/;
var SHELL_KEY = "./";

function precacheRequest(path) {
  // Hashed names never change content: the HTTP cache may answer. The rest
  // ("./", manifest.json) must be this release's copy, not a cached older one.
  return new Request(path, { cache: HASHED.test(path) ? "default" : "no-cache" });
}

self.addEventListener("install", function (event) {
  // No skipWaiting() here: while a page of the old release is open it keeps
  // its worker until the user chooses to reload (see the message handler).
  event.waitUntil(
    caches.open(CACHE).then(function (cache) {
      return cache.addAll(__ROOST_PRECACHE__.map(precacheRequest));
    })
  );
});

self.addEventListener("message", function (event) {
  var data = event.data;
  if (data && data.type === "skipWaiting") { self.skipWaiting(); }
});

self.addEventListener("activate", function (event) {
  event.waitUntil(
    caches.keys().then(function (keys) {
      return Promise.all(keys.filter(function (k) {
        return k.indexOf(CACHE_PREFIX) === 0 && k !== CACHE;
      }).map(function (k) { return caches.delete(k); }));
    }).then(function () { return self.clients.claim(); })
  );
});

function fromCacheOrNetwork(request, key) {
  return caches.open(CACHE).then(function (cache) {
    return cache.match(key).then(function (hit) {
      if (hit) { return hit; }
      return fetch(request).then(function (response) {
        if (response.ok && response.type === "basic") { cache.put(key, response.clone()); }
        return response;
      });
    });
  });
}

function networkFirst(request, key) {
  return fetch(request).then(function (response) {
    if (response.ok) {
      var copy = response.clone();
      caches.open(CACHE).then(function (cache) { cache.put(key, copy); });
    }
    return response;
  }).catch(function () {
    return caches.open(CACHE).then(function (cache) { return cache.match(key); })
      .then(function (hit) { return hit || Response.error(); });
  });
}

self.addEventListener("fetch", function (event) {
  var request = event.request;
  if (request.method !== "GET") { return; }
  var url = new URL(request.url);
  if (url.origin !== self.location.origin) { return; }
  var scope = new URL(self.registration.scope);
  if (url.pathname.indexOf(scope.pathname) !== 0) { return; }
  var path = url.pathname.slice(scope.pathname.length);

  // The shell, whatever its query (a share: ?share-text=…) or hash (xmpp:
  // links). Only the shell itself is stored under its key: any other page a
  // tab opens on this origin (/healthz, an operator's page) is left alone.
  if (path === "" || path === "index.html") {
    event.respondWith(fromCacheOrNetwork(request, SHELL_KEY));
    return;
  }
  if (path === "config.json") {
    event.respondWith(networkFirst(request, path));
    return;
  }
  if (path === "manifest.json" || HASHED.test(path)) {
    event.respondWith(fromCacheOrNetwork(request, path === "manifest.json" ? path : request));
  }
});
