// credwatch: small enhancements only; every page works without this file.
(function () {
  "use strict";

  function reveal() {
    document.querySelectorAll(".js-only").forEach(function (el) { el.hidden = false; });
  }

  function copy(button) {
    var text = button.getAttribute("data-copy");
    var done = function () {
      var label = button.textContent;
      button.textContent = "Copied";
      setTimeout(function () { button.textContent = label; }, 1500);
    };
    if (navigator.clipboard && window.isSecureContext) {
      navigator.clipboard.writeText(text).then(done, function () { fallbackCopy(text); done(); });
    } else {
      fallbackCopy(text);
      done();
    }
  }

  function fallbackCopy(text) {
    var area = document.createElement("textarea");
    area.value = text;
    area.setAttribute("readonly", "");
    area.className = "visually-hidden";
    document.body.appendChild(area);
    area.select();
    try { document.execCommand("copy"); } catch (e) { /* nothing more to try */ }
    document.body.removeChild(area);
  }

  function cellValue(row, index, numeric) {
    var cell = row.cells[index];
    if (!cell) { return numeric ? 0 : ""; }
    var raw = cell.getAttribute("data-value");
    if (numeric) { return Number(raw !== null ? raw : cell.textContent) || 0; }
    return (raw !== null ? raw : cell.textContent).trim().toLowerCase();
  }

  function sortBy(th) {
    var table = th.closest("table");
    var body = table.tBodies[0];
    var index = Array.prototype.indexOf.call(th.parentNode.children, th);
    var numeric = th.getAttribute("data-sort") === "num";
    var ascending = th.getAttribute("aria-sort") !== "ascending";
    table.querySelectorAll("th[aria-sort]").forEach(function (h) { h.removeAttribute("aria-sort"); });
    th.setAttribute("aria-sort", ascending ? "ascending" : "descending");
    var rows = Array.prototype.slice.call(body.rows);
    rows.sort(function (a, b) {
      var x = cellValue(a, index, numeric), y = cellValue(b, index, numeric);
      var c = x < y ? -1 : x > y ? 1 : 0;
      return ascending ? c : -c;
    });
    rows.forEach(function (r) { body.appendChild(r); });
  }

  function filterRows(input) {
    var table = document.getElementById(input.getAttribute("data-filter-table"));
    if (!table) { return; }
    var needle = input.value.trim().toLowerCase();
    Array.prototype.forEach.call(table.tBodies[0].rows, function (row) {
      row.hidden = needle !== "" && row.textContent.toLowerCase().indexOf(needle) === -1;
    });
  }

  // The subscribe box's builder: the address of the feed its fields describe, as the server
  // would read it (empty fields are left out), shown live in https and webcal form.
  function showFeed(form) {
    var params = [];
    Array.prototype.forEach.call(form.elements, function (el) {
      if (!el.name || el.value.trim() === "") { return; }
      params.push(encodeURIComponent(el.name) + "=" + encodeURIComponent(el.value.trim()));
    });
    var https = form.action + "?" + params.join("&");
    var links = { https: https, webcal: https.replace(/^https?:/, "webcal:") };
    Object.keys(links).forEach(function (kind) {
      var a = form.querySelector("a[data-feed='" + kind + "']");
      var button = form.querySelector("button[data-feed-copy='" + kind + "']");
      if (a) { a.href = links[kind]; a.textContent = links[kind]; }
      if (button) { button.setAttribute("data-copy", links[kind]); }
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    reveal();
    document.querySelectorAll("form.feed-builder").forEach(function (form) {
      showFeed(form);
      form.addEventListener("input", function () { showFeed(form); });
      form.addEventListener("change", function () { showFeed(form); });
    });
    document.addEventListener("click", function (e) {
      var target = e.target;
      if (!(target instanceof Element)) { return; }
      var button = target.closest("button[data-copy]");
      if (button) { copy(button); return; }
      var th = target.closest("table.sortable th[data-sort]");
      if (th) { sortBy(th); }
    });
    document.querySelectorAll("table.sortable th[data-sort]").forEach(function (th) {
      th.tabIndex = 0;
      th.addEventListener("keydown", function (e) {
        if (e.key === "Enter" || e.key === " ") { e.preventDefault(); sortBy(th); }
      });
    });
    document.querySelectorAll("input[data-filter-table]").forEach(function (input) {
      input.addEventListener("input", function () { filterRows(input); });
    });
    document.querySelectorAll("select[data-autosubmit]").forEach(function (select) {
      select.addEventListener("change", function () { if (select.form) { select.form.submit(); } });
    });
  });
})();
