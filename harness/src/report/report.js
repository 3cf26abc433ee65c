(function () {
  "use strict";
  var list = document.getElementById("js-errors");
  function report(msg) {
    var li = document.createElement("li");
    li.textContent = msg;
    list.appendChild(li);
  }
  (window.__errs || []).forEach(report);
  window.onerror = function (m, s, l, c) { report("error: " + m + " at line " + l + ":" + c); };
  // Every in-page link must have a target: a dangling one means evidence you cannot reach.
  var missing = 0;
  document.querySelectorAll('a[href^="#"]').forEach(function (a) {
    var id = a.getAttribute("href").slice(1);
    if (id && !document.getElementById(id)) {
      missing += 1;
      if (missing <= 5) { report("broken link: #" + id); }
    }
  });
  if (missing > 5) { report((missing - 5) + " more broken links"); }
  var hide = document.getElementById("hide-ok");
  if (hide) {
    hide.addEventListener("change", function () {
      document.body.classList.toggle("hide-ok", hide.checked);
    });
  }
  document.getElementById("js-status").textContent = "ok";
})();
