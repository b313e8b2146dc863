// cronflow web: live updates for pages that read fine without this script.
// The run page follows its log; every page re-renders its main part when a run changes.
(function () {
  "use strict";
  var log = document.getElementById("log");
  var state = document.getElementById("run-state");
  function refresh() {
    fetch(location.pathname, {credentials: "same-origin"}).then(function (r) { return r.text(); })
      .then(function (html) {
        var doc = new DOMParser().parseFromString(html, "text/html");
        var fresh = doc.getElementById("live");
        var keep = document.getElementById("log");
        if (!fresh) return;
        if (keep && doc.getElementById("log")) {
          doc.getElementById("log").replaceWith(keep);  // the followed log stays as it is
        }
        document.getElementById("live").replaceWith(fresh);
      });
  }
  var follow = null;
  if (log && state && state.dataset.terminal === "no") {
    follow = new EventSource("/api/v1/runs/" + log.dataset.run + "/log?follow=1");
    var first = true;
    follow.onmessage = function (e) {
      if (first) { log.textContent = ""; first = false; }  // the stream starts from byte 0
      log.textContent += e.data;
      log.scrollTop = log.scrollHeight;
    };
    follow.addEventListener("end", function () { follow.close(); refresh(); });
  }
  var pending = null;
  function soon() {
    if (pending) return;
    pending = setTimeout(function () { pending = null; refresh(); }, 300);
  }
  var events = new EventSource("/api/v1/events");
  events.addEventListener("run", soon);
  // what changed before the stream opened: after a button's action (the page says so)
  // or a reconnect, the page may already be behind
  var opened = 0;
  events.onopen = function () {
    if (opened++ > 0 || document.getElementById("notice")) soon();
  };
  // a page kept in the back-forward cache would hold its streams open (a browser opens
  // only six connections per server): close them on leaving, start afresh on return
  window.addEventListener("pagehide", function () {
    events.close();
    if (follow) follow.close();
  });
  window.addEventListener("pageshow", function (e) { if (e.persisted) location.reload(); });
})();
