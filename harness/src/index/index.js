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
  var shown = document.getElementById("shown");
  var more = document.getElementById("more");
  var morePage = document.getElementById("more-page");
  var moreAll = document.getElementById("more-all");
  // Rows drawn at once: the page's own first rows, after a sort or filter, and per "show more".
  var PAGE = parseInt(table.getAttribute("data-page"), 10) || 200;
  // Every run, one array of cell texts each, in the order of the drawn rows (newest first);
  // the report column holds the link ("" when there is no report.html).
  var data = JSON.parse(document.getElementById("runs-data").textContent);
  var REPORT = keys.indexOf("report");
  var VERDICT = keys.indexOf("verdict");
  var NOTES = keys.indexOf("notes");
  function text(row, col) {
    if (col === REPORT) { return row[col] ? "report" : "\u2014"; }
    return row[col];
  }
  function numberOf(s) { var v = parseFloat(s); return isNaN(v) ? null : v; }

  // order: every run index in the current sort; view: those passing the filters; the first
  // `drawn` of view are the rows of the table body.
  var order = data.map(function (_, i) { return i; });
  var view = order;
  var drawn = body.rows.length;

  function drawRow(row) {
    var tr = document.createElement("tr");
    tr.className = "run s-" + row[VERDICT].split("/")[0];
    for (var col = 0; col < keys.length; col++) {
      var td = document.createElement("td");
      if (numeric[col]) { td.className = "num"; }
      else if (col === VERDICT) { td.className = "verdict"; }
      else if (col === NOTES) { td.className = "notes"; }
      if (col === REPORT && row[col]) {
        var a = document.createElement("a");
        a.setAttribute("href", row[col]);
        a.textContent = "report";
        td.appendChild(a);
      } else {
        td.textContent = text(row, col);
      }
      tr.appendChild(td);
    }
    return tr;
  }
  function drawMore(count) {
    var end = Math.min(view.length, drawn + count);
    var frag = document.createDocumentFragment();
    for (var i = drawn; i < end; i++) { frag.appendChild(drawRow(data[view[i]])); }
    body.appendChild(frag);
    drawn = Math.max(drawn, end);
    status();
  }
  function redraw() {
    body.textContent = "";
    drawn = 0;
    drawMore(PAGE);
  }
  function status() {
    var left = view.length - drawn;
    if (left <= 0) {
      shown.textContent = view.length + " of " + data.length + " runs shown.";
    } else {
      shown.textContent = view.length + " of " + data.length + " runs match; the first " + drawn +
        " are drawn, more as you scroll.";
    }
    more.hidden = left <= 0;
    morePage.textContent = "show " + Math.min(PAGE, left) + " more";
    moreAll.textContent = "show all " + view.length;
  }

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
    view = active.length === 0 ? order : order.filter(function (r) {
      for (var k = 0; k < active.length; k++) {
        var col = active[k][0];
        if (!matches(text(data[r], col), active[k][1], numeric[col])) { return false; }
      }
      return true;
    });
    redraw();
  }

  var sortCol = -1, sortDesc = false;
  function sortBy(col, desc) {
    var isNum = numeric[col];
    // Each cell's sort key once, not once per comparison.
    var key = data.map(function (row) {
      var t = text(row, col);
      return isNum ? numberOf(t) : t;
    });
    order = data.map(function (_, i) { return i; });
    order.sort(function (a, b) {
      var x = key[a], y = key[b], c;
      if (isNum) {
        // Empty cells sort last either way.
        if (x === null || y === null) { return (x === null) - (y === null) || a - b; }
        c = x - y;
      } else {
        if (!x || !y) { return (!x) - (!y) || a - b; }
        c = x < y ? -1 : x > y ? 1 : 0;
      }
      return (desc ? -c : c) || a - b;
    });
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
      applyFilters();
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
  morePage.addEventListener("click", function () { drawMore(PAGE); });
  moreAll.addEventListener("click", function () { drawMore(view.length); });
  // Scrolling near the end of the drawn rows draws the next ones.
  if ("IntersectionObserver" in window) {
    var watch = new IntersectionObserver(function (entries) {
      if (entries.some(function (e) { return e.isIntersecting; }) && drawn < view.length) {
        drawMore(PAGE);
        // Observing again reports whether "more" is still in sight (a tall window).
        watch.unobserve(more);
        watch.observe(more);
      }
    }, { rootMargin: "0px 0px 1000px 0px" });
    watch.observe(more);
  }

  // The state in the URL: ?sort=KEY&desc=1&f-KEY=TEXT&rows=N
  var params = new URLSearchParams(window.location.search);
  var changed = false;
  keys.forEach(function (k, i) {
    var f = params.get("f-" + k);
    if (f !== null) { inputs[i].value = f; changed = true; }
  });
  var sortKey = params.get("sort");
  if (sortKey !== null) {
    var col = keys.indexOf(sortKey);
    if (col < 0) { report("unknown sort column: " + sortKey); }
    else { sortBy(col, params.get("desc") === "1"); changed = true; }
  }
  // Without a sort or filter the page's own rows are the first of the view: nothing to draw.
  if (changed) { applyFilters(); } else { status(); }
  var rows = parseInt(params.get("rows") || "", 10);
  if (rows > drawn) { drawMore(rows - drawn); }
  // Milliseconds since the navigation started: parsing, this script and the layout of the
  // drawn rows (forced here, so it is counted).
  void document.body.offsetHeight;
  document.getElementById("ready-ms").textContent =
    String(Math.round(performance.now()));
  document.getElementById("js-status").textContent = "ok";
})();
