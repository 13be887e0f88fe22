// Keeps a region of the page fresh: every element with `data-poll="<same-origin URL>"` has its
// contents replaced by what that URL returns, every `data-poll-ms` milliseconds (default 3000),
// while the tab is visible. Served from /static so the CSP can forbid inline scripts.
(function () {
  "use strict";
  document.querySelectorAll("[data-poll]").forEach(function (el) {
    var url = el.getAttribute("data-poll");
    var every = parseInt(el.getAttribute("data-poll-ms") || "3000", 10);
    var last = null;
    var busy = false;
    setInterval(function () {
      if (busy || document.hidden) return;
      busy = true;
      fetch(url, { credentials: "same-origin", headers: { Accept: "text/html" } })
        .then(function (r) { return r.ok ? r.text() : null; })
        .then(function (html) {
          if (html !== null && html !== last) {
            var atBottom = el.scrollHeight - el.scrollTop - el.clientHeight < 40;
            el.innerHTML = html;
            last = html;
            if (atBottom) el.scrollTop = el.scrollHeight;
          }
        })
        .catch(function () {})
        .then(function () { busy = false; });
    }, every);
  });
})();
