// Writes a policy held back: why (rule, message), and release or discard (reviewers).
"use strict";

(() => {
  const {el, api, clear, toast} = PG;
  const target = document.getElementById("quarantine");

  async function act(item, verb, row) {
    const reply = await api("POST", `/api/v1/quarantine/${PG.path(item.bucket, item.key)}/${verb}`, {});
    if (!reply.ok) { toast(PG.errorText(reply), "error"); return; }
    row.remove();
    toast(verb === "release" ? `${item.key} released into ${item.bucket}` : `${item.key} discarded`, "ok");
  }

  async function load() {
    const reply = await api("GET", "/api/v1/quarantine");
    if (!reply.ok) { clear(target, el("p", {class: "error", text: PG.errorText(reply)})); return; }
    const items = reply.data.items || [];
    if (!items.length) { clear(target, el("p", {class: "empty", text: "Nothing is held in quarantine."})); return; }
    clear(target, el("table", {class: "table"},
      el("thead", {}, el("tr", {}, ["", "Object", "Rule", "Why", "Written by", "When", ""].map((h) => el("th", {text: h})))),
      el("tbody", {}, items.map((item) => {
        const loc = item.location;
        const row = el("tr", {"data-key": item.key},
          el("td", {}, PG.thumb(loc.bucket, loc.key, loc.version_id, "", "small")),
          el("td", {}, el("a", {class: "mono", href: PG.assetPage(loc.bucket, loc.key, loc.version_id), text: `${item.bucket}/${item.key}`})),
          el("td", {class: "mono", text: item.rule || "—"}),
          el("td", {text: item.message || ""}),
          el("td", {text: item.identity || ""}),
          el("td", {class: "small", text: PG.when(item.time)}),
          el("td", {class: "row"}));
        row.lastChild.append(
          el("button", {class: "approve small-btn", text: "Release", onclick: () => act(item, "release", row)}),
          el("button", {class: "reject small-btn", text: "Discard", onclick: () => act(item, "discard", row)}));
        return row;
      }))));
  }

  load();
})();
