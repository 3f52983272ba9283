"use strict";
// The per-sample browser: filters and sorts the rows embedded in #sample-data and draws them a
// page at a time. Data text goes into the page only through textContent (never parsed as HTML).
(function () {
  const data = JSON.parse(document.getElementById("sample-data").textContent);
  const $ = (id) => document.getElementById(id);
  const PAGE = 50;
  const KIND = { better: "better", worse: "worse", same: "same", "": "" };
  const items = data.rows.map((r, i) => {
    const t = data.tasks[r[0]];
    const d = r[6] === null || r[7] === null ? null : r[7] - r[6];
    const gain = d === null ? null : t.hib ? d : -d;
    const kind = gain === null ? "" : gain > 0 ? "better" : gain < 0 ? "worse" : "same";
    const text = [r[1], r[2], r[3], r[4], r[5]].join("\n").toLowerCase();
    return { r, i, d, gain, kind, text };
  });
  let current = items;
  let shown = PAGE;

  function kindLabel(item) {
    const t = data.tasks[item.r[0]];
    if (!t.binary || item.kind === "same" || item.kind === "") return KIND[item.kind];
    return item.kind === "better" ? "wrong → right" : "right → wrong";
  }

  function fmt(x) {
    return x === null ? "—" : Math.abs(x) > 1.5 ? x.toFixed(2) : x.toFixed(4);
  }

  function cell(tr, text, cls) {
    const td = document.createElement("td");
    if (cls) td.className = cls;
    td.textContent = text === null ? "—" : text;
    tr.appendChild(td);
    return td;
  }

  function draw() {
    const body = $("samples-body");
    const rows = document.createDocumentFragment();
    for (const item of current.slice(0, shown)) {
      const r = item.r;
      const t = data.tasks[r[0]];
      const tr = document.createElement("tr");
      tr.className = "k-" + item.kind;
      cell(tr, r[1], "mono text");
      cell(tr, t.name, "text task");
      cell(tr, r[2], "text");
      cell(tr, r[3], "text");
      cell(tr, r[4], "text");
      if (data.run) cell(tr, r[5], "text");
      cell(tr, fmt(r[6]), "num");
      if (data.run) {
        cell(tr, fmt(r[7]), "num");
        const td = cell(tr, item.d === null ? "—" : (item.d > 0 ? "+" : "") + fmt(item.d), "num");
        const label = kindLabel(item);
        if (label && label !== "same") {
          const tag = document.createElement("div");
          tag.className = "flip";
          tag.textContent = (item.kind === "better" ? "▲ " : "▼ ") + label;
          td.appendChild(tag);
        }
      }
      rows.appendChild(tr);
    }
    body.replaceChildren(rows);
    const n = current.length;
    $("samples-count").textContent =
      n + " of " + items.length + " examples match" + (n > shown ? "; showing the first " + shown : "");
    $("samples-more").hidden = n <= shown;
  }

  function apply() {
    const task = $("f-task").value;
    const flip = data.run ? $("f-flip").value : "all";
    const words = $("f-search").value.toLowerCase().split(/\s+/).filter(Boolean);
    const sort = data.run ? $("f-sort").value : "data";
    current = items.filter(
      (item) =>
        (task === "" || String(item.r[0]) === task) &&
        (flip === "all" ||
          (flip === "changed" ? item.kind === "better" || item.kind === "worse" : item.kind === flip)) &&
        words.every((w) => item.text.includes(w))
    );
    if (sort !== "data") {
      const sign = sort === "gain" ? -1 : 1;
      const key = (item) => (item.gain === null ? Infinity : sign * item.gain);
      current = current.slice().sort((a, b) => key(a) - key(b) || a.i - b.i);
    }
    shown = PAGE;
    draw();
  }

  for (const id of ["f-task", "f-flip", "f-sort"]) {
    const el = $(id);
    if (el) el.addEventListener("change", apply);
  }
  $("f-search").addEventListener("input", apply);
  $("samples-more").addEventListener("click", () => {
    shown += PAGE * 10;
    draw();
  });
  apply();
  document.body.dataset.browser = "ready";
})();
