// Credits spent, by campaign, brand, model or month, as bars.
"use strict";

(() => {
  const {el, api, clear} = PG;
  const form = document.getElementById("spend-form");
  const target = document.getElementById("spend");
  const total = document.getElementById("spend-total");
  const params = new URLSearchParams(location.search);
  let by = ["campaign", "brand", "model", "month"].includes(params.get("by")) ? params.get("by") : "campaign";
  const fmt = (n) => Number(n).toLocaleString(undefined, {maximumFractionDigits: 2});

  async function load() {
    for (const tab of form.querySelectorAll(".tab")) tab.classList.toggle("active", tab.dataset.by === by);
    const query = {by, ...PG.formParams(form)};
    history.replaceState(null, "", "/ui/spend" + PG.query(query));
    const reply = await api("GET", "/api/v1/spend" + PG.query(query));
    if (!reply.ok) { clear(target, el("p", {class: "error", text: PG.errorText(reply)})); clear(total); return; }
    const rows = reply.data.rows || [];
    const top = Math.max(...rows.map((r) => r.credits), 0) || 1;
    clear(total, el("span", {class: "muted", text: "Total "}), el("strong", {text: `${fmt(reply.data.total)} credits`}),
      el("span", {class: "muted", text: ` across ${rows.reduce((n, r) => n + r.assets, 0)} assets`}));
    clear(target, rows.length ? rows.map((r) => {
      const bar = el("div", {class: "bar-fill"});
      bar.style.width = `${(r.credits / top) * 100}%`;
      return el("div", {class: "bar-row"},
        el("div", {class: "bar-label", title: r.group, text: r.group || "(none)"}),
        el("div", {class: "bar"}, bar),
        el("div", {class: "bar-value", text: fmt(r.credits)}),
        el("div", {class: "bar-count muted small", text: `${r.assets} asset${r.assets === 1 ? "" : "s"}`}));
    }) : el("p", {class: "empty", text: "No credits are recorded on the assets you can see."}));
  }

  PG.fillForm(form, params);
  for (const tab of form.querySelectorAll(".tab")) tab.addEventListener("click", () => { by = tab.dataset.by; load(); });
  form.addEventListener("submit", (e) => { e.preventDefault(); load(); });
  load();
})();
