// The member's live QR code: a countdown to the end of the 30-second step, then a fresh code
// from the server. Without JavaScript the page still shows the current code.
(function () {
  "use strict";
  var box = document.getElementById("qr");
  var label = document.getElementById("countdown");
  if (!box || !label) return;
  var left = parseInt(box.getAttribute("data-left"), 10) || 30;
  var template = label.getAttribute("data-template");
  var deadline = Date.now() + left * 1000;
  function show() {
    var s = Math.max(0, Math.ceil((deadline - Date.now()) / 1000));
    label.textContent = template.replace("{}", String(s));
    return s;
  }
  function refresh() {
    fetch(box.getAttribute("data-src"), { credentials: "same-origin", cache: "no-store" })
      .then(function (r) {
        if (!r.ok) throw new Error("HTTP " + r.status);
        var next = parseInt(r.headers.get("X-Step-Seconds-Left"), 10) || 30;
        deadline = Date.now() + next * 1000;
        return r.text();
      })
      .then(function (svg) {
        var start = svg.indexOf("<svg");
        box.innerHTML = start >= 0 ? svg.slice(start) : svg;
      })
      .catch(function () { deadline = Date.now() + 3000; });
  }
  setInterval(function () {
    // The code of a step stays accepted during the next step too: fetching as the step turns
    // keeps what is on screen valid at every moment.
    if (show() === 0) { deadline = Date.now() + 60000; refresh(); }
  }, 250);
  show();
})();
