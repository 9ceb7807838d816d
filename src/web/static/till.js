// The till: Enter in the amount moves on to the code (a scanner types the code and Enter,
// which submits); the camera reads a QR code with the browser's BarcodeDetector, or else with
// jsQR (vendored, served by caisse itself, loaded only when needed).
(function () {
  "use strict";
  var amount = document.getElementById("amount");
  var code = document.getElementById("code");
  var form = document.getElementById("pay");
  if (!amount || !code || !form) return;
  amount.addEventListener("keydown", function (e) {
    if (e.key === "Enter" && !code.value) { e.preventDefault(); code.focus(); }
  });
  // After an answer the next sale starts at the amount; after a decline the amount is kept
  // (the server filled it in) and the scanner types the next card into the code field.
  if (document.getElementById("outcome")) (amount.value ? code : amount).focus();

  // The payment's Idempotency-Key belongs to one sale. A new sale always gets a new key: every
  // page draws one, and once the till has shown an answer (approved, declined or "déjà
  // enregistré") the next sale is a new one, whatever was typed. The only sale sent again with
  // an old key is one whose answer never came (the network dropped it, the browser showed an
  // error page): the same fields typed again within ten minutes reuse that key, so the server
  // answers "déjà enregistré" if the first one went through and moves nothing twice. The
  // pending sale is kept in this tab only, as a hash of its fields (never the PIN itself).
  var idem = document.getElementById("idem");
  var STORE = "caisse.lastSale", KEEP_MS = 10 * 60 * 1000;
  var fresh = form.getAttribute("data-idem") || (idem && idem.value);
  function newKey() {
    var b = new Uint8Array(16), s = "web_";
    window.crypto.getRandomValues(b);
    for (var i = 0; i < b.length; i++) s += (b[i] < 16 ? "0" : "") + b[i].toString(16);
    return s;
  }
  function signature() {
    var text = ["amount", "code", "pin", "card", "mcode"].map(function (n) {
      var el = form.elements[n];
      return el ? el.value.trim().replace(",", ".") : "";
    }).join("\u0000");
    var h = 0x811c9dc5; // FNV-1a: the fields (and the PIN) are not kept in clear
    for (var i = 0; i < text.length; i++) {
      h ^= text.charCodeAt(i);
      h = Math.imul(h, 0x01000193) >>> 0;
    }
    return h.toString(16);
  }
  function last() {
    try {
      var v = JSON.parse(window.sessionStorage.getItem(STORE));
      return v && Date.now() - v.at < KEEP_MS ? v : null;
    } catch (e) { return null; }
  }
  function remember(v) {
    try {
      if (v) window.sessionStorage.setItem(STORE, JSON.stringify(v));
      else window.sessionStorage.removeItem(STORE);
    } catch (e) { /* private mode: the page's own key still changes with each page */ }
  }
  // An answer is on screen: the sale it answers is no longer pending.
  if (document.getElementById("outcome")) remember(null);
  if (idem && fresh) {
    idem.value = fresh;
    form.addEventListener("submit", function () {
      var sig = signature(), prev = last();
      if (prev && prev.sig === sig) {
        idem.value = prev.key;
      } else {
        if (prev && prev.key === fresh) fresh = newKey();
        idem.value = fresh;
      }
      remember({ key: idem.value, sig: sig, at: Date.now() });
    });
  }
  // An answer page (the result of a POST) takes the till's own address in the history: Back
  // to it, or a reload, then fetches the till anew (a new key, today's sales) instead of
  // offering to send the old form again. And a page restored from the back-forward cache is
  // an old page, whose answer is no longer news: fetched anew too.
  if (window.location.pathname !== "/caisse" && window.history.replaceState) {
    window.history.replaceState(null, "", "/caisse");
  }
  window.addEventListener("pageshow", function (e) {
    if (e.persisted) window.location.reload();
  });

  var box = document.getElementById("camera");
  var start = document.getElementById("camera-start");
  var stop = document.getElementById("camera-stop");
  var video = document.getElementById("camera-video");
  var msg = document.getElementById("camera-msg");
  var unavailable = document.getElementById("camera-unavailable");
  if (!box || !(navigator.mediaDevices && navigator.mediaDevices.getUserMedia)) return;
  box.hidden = false;
  var stream = null, timer = null, canvas = document.createElement("canvas");

  function halt() {
    if (timer) clearInterval(timer);
    timer = null;
    if (stream) stream.getTracks().forEach(function (t) { t.stop(); });
    stream = null;
    video.hidden = true; stop.hidden = true; start.hidden = false;
  }
  function found(text) {
    code.value = text;
    halt();
    if (amount.value) { if (form.requestSubmit) form.requestSubmit(); else form.submit(); }
    else amount.focus();
  }
  // A decoder: BarcodeDetector where the browser has it, else jsQR on a canvas frame.
  function decoder() {
    if ("BarcodeDetector" in window) {
      var d = new window.BarcodeDetector({ formats: ["qr_code"] });
      return Promise.resolve(function () {
        return d.detect(video).then(function (c) { return c.length ? c[0].rawValue : null; });
      });
    }
    return new Promise(function (resolve, reject) {
      var s = document.createElement("script");
      s.src = "/static/jsQR.js";
      s.onload = function () {
        resolve(function () {
          var w = video.videoWidth, h = video.videoHeight;
          if (!w || !h) return Promise.resolve(null);
          canvas.width = w; canvas.height = h;
          var ctx = canvas.getContext("2d");
          ctx.drawImage(video, 0, 0, w, h);
          var r = window.jsQR(ctx.getImageData(0, 0, w, h).data, w, h);
          return Promise.resolve(r ? r.data : null);
        });
      };
      s.onerror = reject;
      document.head.appendChild(s);
    });
  }
  start.addEventListener("click", function () {
    var detect;
    decoder()
      .then(function (d) {
        detect = d;
        return navigator.mediaDevices.getUserMedia({ video: { facingMode: "environment" } });
      })
      .then(function (s) {
        stream = s; video.srcObject = s; video.hidden = false;
        start.hidden = true; stop.hidden = false; msg.textContent = "";
        return video.play();
      })
      .then(function () {
        timer = setInterval(function () {
          detect().then(function (text) { if (text) found(text); }).catch(function () {});
        }, 300);
      })
      .catch(function () { halt(); msg.textContent = unavailable.innerHTML; });
  });
  stop.addEventListener("click", halt);
})();
