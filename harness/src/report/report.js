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
  // From an op back to the anomalies that cite it: each story link adds a "cited by" link to
  // the op's row.
  document.querySelectorAll("a.storyop").forEach(function (a) {
    var row = document.getElementById(a.getAttribute("href").slice(1));
    var story = a.closest(".story");
    if (!row || !story) { return; }
    var cell = row.querySelector("td.citedby");
    if (!cell) {
      cell = document.createElement("td");
      cell.className = "citedby";
      row.appendChild(cell);
    }
    if (!cell.querySelector('a[href="#' + story.id + '"]')) {
      var back = document.createElement("a");
      back.href = "#" + story.id;
      back.className = "backlink";
      back.textContent = "\u21a9 " + story.id.replace("story-", "");
      cell.appendChild(back);
    }
  });
  var hide = document.getElementById("hide-ok");
  if (hide) {
    hide.addEventListener("change", function () {
      document.body.classList.toggle("hide-ok", hide.checked);
    });
  }
  document.getElementById("js-status").textContent = "ok";
})();
