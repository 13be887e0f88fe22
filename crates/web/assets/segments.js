// Live counters for text boxes. An element with `data-segments-for="<textarea id>"` shows the
// encoding and the number of SMS parts of what is typed. The GSM-7 tables come from the server
// (`/static/segments.js` is built from the same constants as its own counter) so the two never
// disagree. An element with `data-chars-for="<textarea id>"` and `data-chars-max` counts
// characters against a limit the way the server does (surrounding whitespace left out).
(function () {
  "use strict";
  function count(text) {
    var chars = Array.from(text);
    var gsm = chars.every(function (c) { return GSM_BASIC.indexOf(c) >= 0 || GSM_EXTENSION.indexOf(c) >= 0; });
    var cost = function (c) {
      if (gsm) return GSM_EXTENSION.indexOf(c) >= 0 ? 2 : 1;
      return c.length; // UTF-16 code units
    };
    var units = chars.reduce(function (n, c) { return n + cost(c); }, 0);
    var single = gsm ? 160 : 70, part = gsm ? 153 : 67;
    var parts = 0;
    if (units > 0 && units <= single) parts = 1;
    else if (units > single) {
      // Characters are never split across parts, as the server packs them.
      var used = 0; parts = 1;
      chars.forEach(function (c) { var k = cost(c); if (used + k > part) { parts += 1; used = 0; } used += k; });
    }
    return { encoding: gsm ? "GSM-7" : "UCS-2", units: units, parts: parts, single: single };
  }
  document.querySelectorAll("[data-segments-for]").forEach(function (out) {
    var box = document.getElementById(out.getAttribute("data-segments-for"));
    if (!box) return;
    var show = function () {
      var n = count(box.value);
      if (n.units === 0) { out.textContent = ""; return; }
      var unit = n.encoding === "GSM-7" ? "characters" : "UTF-16 units";
      out.textContent = n.units + " " + unit + " · " + n.encoding + " · " + n.parts + (n.parts === 1 ? " segment" : " segments") +
        (n.encoding === "UCS-2" ? " (a character outside GSM-7 makes every part shorter)" : "");
    };
    box.addEventListener("input", show);
    show();
  });
  document.querySelectorAll("[data-chars-for]").forEach(function (out) {
    var box = document.getElementById(out.getAttribute("data-chars-for"));
    if (!box) return;
    var max = parseInt(out.getAttribute("data-chars-max"), 10);
    var show = function () {
      var n = Array.from(box.value.trim()).length;
      out.textContent = n + " of " + max + " characters" + (n > max ? " (" + (n - max) + " too many)" : "");
    };
    box.addEventListener("input", show);
    show();
  });
})();
