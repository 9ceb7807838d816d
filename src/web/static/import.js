// The member import form: the chosen file is read here and sent as base64 in a hidden field
// (the server takes page forms urlencoded only), with its name.
(function () {
  "use strict";
  var file = document.getElementById("import-file");
  var content = document.getElementById("import-content");
  var name = document.getElementById("import-name");
  if (!file || !content || !name || !window.FileReader) return;
  file.addEventListener("change", function () {
    var f = file.files && file.files[0];
    content.value = "";
    name.value = "";
    if (!f) return;
    var reader = new FileReader();
    reader.onload = function () {
      var url = String(reader.result || "");
      content.value = url.slice(url.indexOf(",") + 1);
      name.value = f.name;
    };
    reader.readAsDataURL(f);
  });
})();
