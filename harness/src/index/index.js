(function () {
  "use strict";
  var errors = document.getElementById("js-errors");
  function report(msg) {
    var li = document.createElement("li");
    li.textContent = msg;
    errors.appendChild(li);
  }
  (window.__errs || []).forEach(report);
  window.onerror = function (m, s, l, c) { report("error: " + m + " at line " + l + ":" + c); };

  var table = document.getElementById("runs");
  var body = table.tBodies[0];
  var heads = Array.prototype.slice.call(table.tHead.rows[0].cells);
  var keys = heads.map(function (th) { return th.getAttribute("data-key"); });
  var numeric = heads.map(function (th) { return th.hasAttribute("data-num"); });
  var inputs = Array.prototype.slice.call(table.querySelectorAll("input.filter"));
  var rows = Array.prototype.slice.call(body.rows);
  var shown = document.getElementById("shown");
  // Cell texts are read once, on the first sort or filter, so the page is ready at once.
  var cells = null;
  function texts() {
    if (cells) { return cells; }
    cells = rows.map(function (tr) {
      var t = [];
      for (var i = 0; i < keys.length; i++) { t.push(tr.cells[i].textContent); }
      return t;
    });
    return cells;
  }
  function numberOf(s) { var v = parseFloat(s); return isNaN(v) ? null : v; }

  function matches(text, filter, isNum) {
    if (filter.charAt(0) === "=") { return text.toLowerCase() === filter.slice(1); }
    if (isNum && (filter.charAt(0) === ">" || filter.charAt(0) === "<")) {
      var v = numberOf(text), bound = numberOf(filter.slice(1));
      if (v === null || bound === null) { return false; }
      return filter.charAt(0) === ">" ? v > bound : v < bound;
    }
    return text.toLowerCase().indexOf(filter) >= 0;
  }
  function applyFilters() {
    var active = [];
    inputs.forEach(function (inp, i) {
      var f = inp.value.trim().toLowerCase();
      if (f) { active.push([i, f]); }
    });
    var t = active.length ? texts() : null;
    var n = 0;
    rows.forEach(function (tr, r) {
      var ok = true;
      for (var k = 0; k < active.length && ok; k++) {
        var col = active[k][0];
        ok = matches(t[r][col], active[k][1], numeric[col]);
      }
      tr.hidden = !ok;
      if (ok) { n += 1; }
    });
    shown.textContent = n + " of " + rows.length + " runs shown.";
  }

  var sortCol = -1, sortDesc = false;
  function sortBy(col, desc) {
    var t = texts();
    var order = rows.map(function (_, i) { return i; });
    var isNum = numeric[col];
    order.sort(function (a, b) {
      var x = t[a][col], y = t[b][col], c;
      if (isNum) {
        var nx = numberOf(x), ny = numberOf(y);
        // Empty cells sort last either way.
        if (nx === null || ny === null) { return (nx === null) - (ny === null) || a - b; }
        c = nx - ny;
      } else {
        if (!x || !y) { return (!x) - (!y) || a - b; }
        c = x < y ? -1 : x > y ? 1 : 0;
      }
      return (desc ? -c : c) || a - b;
    });
    var frag = document.createDocumentFragment();
    order.forEach(function (i) { frag.appendChild(rows[i]); });
    body.appendChild(frag);
    heads.forEach(function (th, i) {
      if (i === col) { th.setAttribute("aria-sort", desc ? "descending" : "ascending"); }
      else { th.removeAttribute("aria-sort"); }
    });
    sortCol = col;
    sortDesc = desc;
  }

  heads.forEach(function (th, i) {
    th.querySelector("button").addEventListener("click", function () {
      sortBy(i, sortCol === i ? !sortDesc : false);
    });
  });
  inputs.forEach(function (inp) { inp.addEventListener("input", applyFilters); });
  // A signature links to its runs: the anomaly column filtered to exactly that signature.
  document.querySelectorAll("a.sig").forEach(function (a) {
    a.addEventListener("click", function () {
      inputs.forEach(function (inp) { inp.value = ""; });
      var sig = a.getAttribute("data-sig");
      var col = keys.indexOf(sig === "unknown" ? "verdict" : "anomalies");
      inputs[col].value = "=" + sig;
      applyFilters();
    });
  });

  // The state in the URL: ?sort=KEY&desc=1&f-KEY=TEXT
  var params = new URLSearchParams(window.location.search);
  var filtered = false;
  keys.forEach(function (k, i) {
    var f = params.get("f-" + k);
    if (f !== null) { inputs[i].value = f; filtered = true; }
  });
  // Without a filter every row shows: no need to touch 10,000 rows at load.
  if (filtered) { applyFilters(); } else { shown.textContent = rows.length + " of " + rows.length + " runs shown."; }
  var sortKey = params.get("sort");
  if (sortKey !== null) {
    var col = keys.indexOf(sortKey);
    if (col < 0) { report("unknown sort column: " + sortKey); }
    else { sortBy(col, params.get("desc") === "1"); }
  }
  // Milliseconds since the navigation started: parsing, layout and this script.
  document.getElementById("ready-ms").textContent =
    String(Math.round(performance.now()));
  document.getElementById("js-status").textContent = "ok";
})();
