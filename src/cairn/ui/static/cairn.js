// cairn ui: the viewer's only script. Served as a file (the Content-Security-Policy allows no
// inline script), it adds three things to server-rendered pages, all optional:
//   * sorting a table shown whole (table.sortable) by a click on a column's header;
//   * live progress bars: elements with data-progress-url poll that JSON and update the bar;
//   * in an export, filtering the artifacts list by key as one types.
// It never builds HTML from data: it only moves existing rows and sets text and values.
"use strict";

(function () {
  function cellValue(row, index) {
    var cell = row.cells[index];
    return cell ? cell.textContent : "";
  }

  function compare(a, b) {
    // Blanks last; numbers by value before text; text by locale.
    if (a === "" || b === "") { return a === b ? 0 : (a === "" ? 1 : -1); }
    var x = Number(a), y = Number(b);
    var xn = a.trim() !== "" && isFinite(x), yn = b.trim() !== "" && isFinite(y);
    if (xn && yn) { return x - y; }
    if (xn !== yn) { return xn ? -1 : 1; }
    return a.localeCompare(b);
  }

  function sortTable(table, index, button) {
    var body = table.tBodies[0];
    var th = button.closest("th");
    var descending = th.getAttribute("aria-sort") === "ascending";
    var rows = Array.prototype.slice.call(body.rows);
    rows.sort(function (r1, r2) {
      var a = cellValue(r1, index), b = cellValue(r2, index);
      if (a === "" || b === "") { return compare(a, b); }
      return descending ? compare(b, a) : compare(a, b);
    });
    rows.forEach(function (r) { body.appendChild(r); });
    Array.prototype.forEach.call(table.tHead.rows[0].cells, function (c) {
      c.removeAttribute("aria-sort");
    });
    th.setAttribute("aria-sort", descending ? "descending" : "ascending");
  }

  function setUpSorting() {
    document.querySelectorAll("table.sortable").forEach(function (table) {
      table.querySelectorAll("thead button.sort").forEach(function (button) {
        var index = button.closest("th").cellIndex;
        button.addEventListener("click", function () { sortTable(table, index, button); });
      });
    });
  }

  function setUpProgress() {
    document.querySelectorAll("[data-progress-url]").forEach(function (box) {
      var url = box.getAttribute("data-progress-url");
      var bar = box.querySelector("progress");
      var label = box.querySelector(".progress-value");
      var busy = false;
      function poll() {
        if (busy || document.hidden) { return; }
        busy = true;
        fetch(url, { headers: { "Accept": "application/json" }, cache: "no-store" })
          .then(function (r) { return r.ok ? r.json() : null; })
          .then(function (state) {
            if (state && typeof state.progress === "number") {
              bar.value = state.progress;
              bar.textContent = state.progress.toFixed(1) + "%";
              label.textContent = state.progress.toFixed(1) + "%";
              box.setAttribute("data-updated", state.updated || "");
            }
          })
          .catch(function () { /* the server is away: try again at the next tick */ })
          .then(function () { busy = false; });
      }
      window.setInterval(poll, 1000);
    });
  }

  function setUpFilter() {
    document.querySelectorAll("input[data-filter-table]").forEach(function (input) {
      var table = document.getElementById(input.getAttribute("data-filter-table"));
      if (!table) { return; }
      input.addEventListener("input", function () {
        var needle = input.value.trim().toLowerCase();
        Array.prototype.forEach.call(table.tBodies[0].rows, function (row) {
          var key = row.getAttribute("data-key") || "";
          row.hidden = needle !== "" && key.indexOf(needle) === -1;
        });
      });
    });
  }

  function start() {
    setUpSorting();
    setUpProgress();
    setUpFilter();
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();
