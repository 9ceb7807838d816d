// The treasurer's statement form: the chosen file is read into the text area, which the form
// posts (the server takes the statement as text). Without JavaScript, paste the file's content.
(function () {
  "use strict";
  var file = document.getElementById("statement-file");
  var text = document.getElementById("statement");
  if (!file || !text || !window.FileReader) return;
  file.addEventListener("change", function () {
    var f = file.files && file.files[0];
    if (!f) return;
    var reader = new FileReader();
    reader.onload = function () { text.value = String(reader.result || ""); };
    reader.readAsText(f, "utf-8");
  });
})();
