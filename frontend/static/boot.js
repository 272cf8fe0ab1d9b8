/* Roost boot: plain JS, loaded (not deferred) in <head> before anything else.
 *
 * - Keeps an early login submission: the form is plain HTML and usable before
 *   Python is loaded; a submit before then is held in RoostBoot.pending (never
 *   sent anywhere) and picked up by roost.main when it starts.
 * - Starts Brython once the deferred bundles (brython.js, the stdlib and app
 *   VFS bundles) have run.
 * - Shows a clear message if anything fails before Python's own error reporter
 *   (roost.platform.errors) takes over; details go to the console only.
 * - Registers the service worker and offers its updates ("Update available
 *   — Reload", see watchUpdates).
 */
(function () {
  "use strict";

  var FATAL_TEXT = "Something went wrong in Roost. Reload the page to continue.";

  var boot = {
    pending: null,        // {address, password, trusted} submitted before Python was ready
    ready: false,         // set by roost.main once the UI owns the login form
    errorsInstalled: false, // set by roost.platform.errors
    failed: false,
    takePending: function () {
      var p = boot.pending;
      boot.pending = null;
      return p;
    },
    showFatal: function (detail) {
      if (detail !== undefined) { console.error("Roost:", detail); }
      if (boot.failed) { return; }
      boot.failed = true;
      var box = document.getElementById("fatal");
      if (!box) { return; }
      document.getElementById("fatal-text").textContent = FATAL_TEXT;
      box.hidden = false;
      var btn = document.getElementById("fatal-reload");
      btn.addEventListener("click", function () { location.reload(); });
      btn.focus();
    }
  };
  window.RoostBoot = boot;

  function mark(name) {
    if (window.performance && performance.mark) { performance.mark(name); }
  }
  mark("roost-boot");

  function setStatus(text) {
    var el = document.getElementById("login-status");
    if (el) { el.textContent = text; }
  }

  // Never let the login form submit natively (it would send the password to
  // the static server). Capture phase on document: runs before any other
  // handler and exists before the form is even parsed.
  document.addEventListener("submit", function (ev) {
    var form = ev.target;
    if (!form || form.id !== "login-form") { return; }
    ev.preventDefault();
    if (boot.ready) { return; }   // roost.ui handles it
    boot.pending = {
      address: form.elements.address.value,
      password: form.elements.password.value,
      trusted: !!form.elements.trusted.checked
    };
    setStatus(boot.failed ? FATAL_TEXT : "Starting…");
  }, true);

  function onError(ev) {
    if (boot.errorsInstalled) { return; }
    boot.showFatal(ev && (ev.error || ev.reason || ev.message));
  }
  window.addEventListener("error", onError);
  window.addEventListener("unhandledrejection", onError);

  function startBrython() {
    mark("roost-dom-ready");
    if (typeof window.brython !== "function" || !window.__BRYTHON__ || !__BRYTHON__.VFS) {
      boot.showFatal("Brython or the Roost bundles did not load");
      return;
    }
    // Brython reports an uncaught Python exception through show_error (the
    // traceback goes to sys.stderr, i.e. the console) and does not always
    // rethrow it: show the message from there too.
    var showError = __BRYTHON__.show_error;
    __BRYTHON__.show_error = function (err) {
      try { showError(err); } finally { boot.showFatal(); }
    };
    // Brython calls brython() itself on body load unless body.onload is set;
    // it then only calls it when we have not.
    document.body.onload = function () {};
    // Bundles built with precompiled modules (build.py) register the compiled
    // code of every module in __BRYTHON__.precompiled: nothing is left to
    // compile, so Brython's IndexedDB compile cache is not needed.
    var precompiled = !!__BRYTHON__.roost_precompiled;
    try {
      window.brython({ debug: 0, indexeddb: !precompiled, cache: true });
    } catch (err) {
      boot.showFatal(err);
    }
  }
  document.addEventListener("DOMContentLoaded", startBrython);

  // The service worker's install precaches every bundle: on a first visit that
  // competes with the login for the CPU (measured: +150-300 ms to the roster on
  // 2 cores), so it waits until the page has been idle for a moment.
  if ("serviceWorker" in navigator && window.isSecureContext) {
    window.addEventListener("load", function () {
      var register = function () {
        navigator.serviceWorker.register("sw.js").then(watchUpdates).catch(function (err) {
          console.warn("Roost: service worker not registered", err);
        });
      };
      if (navigator.serviceWorker.controller) { register(); return; }
      setTimeout(function () {
        if (window.requestIdleCallback) { window.requestIdleCallback(register, { timeout: 5000 }); }
        else { register(); }
      }, 3000);
    });
  }

  // Updates (service_worker/sw.js): a new release installs beside the running
  // one and waits. "Update available — Reload" lets the user choose the moment;
  // Reload tells the waiting worker to take over and reloads once it controls
  // this page, so the page never mixes files of two releases.
  var UPDATE_CHECK_MS = 60 * 60 * 1000;  // an installed app may stay open for days
  var update = { waiting: null, asked: false, reloading: false, checked: Date.now() };

  function showUpdate(text) {
    var banner = document.getElementById("update-banner");
    if (!banner) { return; }
    document.getElementById("update-text").textContent = text;
    banner.hidden = false;
  }

  function offerUpdate(worker) {
    // No controller: this is the first install, not an update.
    if (!navigator.serviceWorker.controller) { return; }
    update.waiting = worker;
    showUpdate("Update available");
  }

  function applyUpdate() {
    var worker = update.waiting;
    if (update.reloading) { return; }
    if (!worker || worker.state !== "installed") {
      // Nothing waiting (another window applied it already): a reload is enough.
      update.reloading = true;
      location.reload();
      return;
    }
    update.asked = true;
    worker.postMessage({ type: "skipWaiting" });
  }

  function watchUpdates(reg) {
    var button = document.getElementById("update-reload");
    if (button) { button.addEventListener("click", applyUpdate); }
    if (reg.waiting) { offerUpdate(reg.waiting); }
    reg.addEventListener("updatefound", function () {
      var worker = reg.installing;
      if (!worker) { return; }
      worker.addEventListener("statechange", function () {
        if (worker.state === "installed") { offerUpdate(worker); }
      });
    });
    document.addEventListener("visibilitychange", function () {
      if (document.visibilityState !== "visible") { return; }
      if (Date.now() - update.checked < UPDATE_CHECK_MS) { return; }
      update.checked = Date.now();
      reg.update().catch(function () { /* offline: next time */ });
    });
    return reg;
  }

  if ("serviceWorker" in navigator && window.isSecureContext) {
    var hadController = !!navigator.serviceWorker.controller;
    navigator.serviceWorker.addEventListener("controllerchange", function () {
      if (!hadController) { hadController = true; return; }  // first install took over
      if (update.asked && !update.reloading) {
        update.reloading = true;
        location.reload();
        return;
      }
      // Another window applied the update: this page still runs the old release.
      if (!update.reloading) { update.waiting = null; showUpdate("Roost was updated"); }
    });
  }
})();
