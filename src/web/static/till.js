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
  if (document.getElementById("outcome")) amount.focus();

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
