// The review queue: pending versions oldest first, filters in the URL, keyboard driven.
"use strict";

(() => {
  const {el, api, clear, toast} = PG;
  const list = document.getElementById("queue");
  const more = document.getElementById("more");
  const form = document.getElementById("filters");
  const dialog = document.getElementById("comment-dialog");
  let rows = [];
  let selected = -1;
  let next = null;

  function filters() {
    const params = new URLSearchParams(location.search);
    PG.fillForm(form, params);
    return PG.formParams(form);
  }

  function select(index) {
    if (!rows.length) return;
    selected = Math.max(0, Math.min(rows.length - 1, index));
    rows.forEach((row, i) => row.node.classList.toggle("selected", i === selected));
    rows[selected].node.scrollIntoView({block: "nearest"});
  }

  function row(item) {
    const open = PG.assetPage(item.bucket, item.key, item.version_id);
    const warnings = item.policy_warnings || [];
    const node = el("article", {class: "qrow", tabindex: "-1", dataset: {bucket: item.bucket, key: item.key, version: item.version_id}},
      el("a", {href: open, class: "qthumb", tabindex: "-1"}, PG.thumb(item.bucket, item.key, item.version_id, item.content_type)),
      el("div", {class: "qmain"},
        el("a", {href: open, class: "qkey mono", text: item.key}),
        el("div", {class: "qprompt", text: item.prompt || "— no prompt recorded —"}),
        el("div", {class: "qmeta muted small"},
          el("span", {class: "mono", text: item.bucket}),
          item.model ? el("span", {text: item.model}) : null,
          item.campaign ? el("span", {text: "campaign " + item.campaign}) : null,
          item.brand ? el("span", {text: "brand " + item.brand}) : null,
          el("span", {text: "via " + (item.door || "?")}),
          item.identity ? el("span", {text: "by " + item.identity}) : null)),
      el("div", {class: "qside"},
        el("div", {class: "muted small", title: PG.when(item.committed), text: PG.ago(item.committed)}),
        warnings.length ? el("span", {class: "warn-chip", title: warnings.join("\n"), text: `${warnings.length} warning${warnings.length > 1 ? "s" : ""}`}) : null,
        el("span", {class: "result small"}),
        PG.can("reviewer") ? el("div", {class: "qactions"},
          el("button", {class: "approve small-btn", "data-action": "approve", title: "Approve (a)", text: "Approve", onclick: (e) => { e.preventDefault(); decide(entry, "approve"); }}),
          el("button", {class: "reject small-btn", "data-action": "reject", title: "Reject (r)", text: "Reject", onclick: (e) => { e.preventDefault(); decide(entry, "reject"); }})) : null));
    const entry = {item, node};
    node.addEventListener("click", (e) => {
      if (e.target.closest("a, button")) return;
      select(rows.indexOf(entry));
    });
    return entry;
  }

  async function load(append) {
    const params = {...filters(), limit: 50};
    if (append && next) params.page = next;
    const reply = await api("GET", "/api/v1/reviews/queue" + PG.query(params));
    if (!reply.ok) {
      clear(list, el("p", {class: "error", text: PG.errorText(reply)}));
      return;
    }
    if (!append) { rows = []; clear(list); }
    for (const item of reply.data.items) {
      const entry = row(item);
      rows.push(entry);
      list.append(entry.node);
    }
    next = reply.data.next;
    more.classList.toggle("hidden", !next);
    if (!rows.length) clear(list, el("p", {class: "empty", text: "Nothing waits for review."}));
    document.getElementById("queue-summary").textContent =
      `${rows.length}${next ? "+" : ""} pending version${rows.length === 1 ? "" : "s"}, oldest first.`;
    if (selected < 0 && rows.length) select(0);
  }

  async function decide(entry, decision) {
    const {item, node} = entry;
    const reply = await api("POST", `/api/v1/reviews/${PG.path(item.bucket, item.key)}/decisions`,
      {decision, version_id: item.version_id});
    const result = node.querySelector(".result");
    if (!reply.ok) {
      toast(PG.errorText(reply), "error");
      return;
    }
    const waiting = (reply.data.waiting_for || []).map((w) => w.message).join("; ");
    result.textContent = reply.data.status === "pending" ? `approved by you — ${waiting || "waiting"}` : reply.data.status.replace("_", " ");
    node.classList.add("decided", "status-" + reply.data.status);
    toast(`${item.key}: ${reply.data.status.replace("_", " ")}${waiting ? " (" + waiting + ")" : ""}`, "ok");
  }

  function comment(entry) {
    document.getElementById("comment-target").textContent = entry.item.key;
    document.getElementById("comment-text").value = "";
    dialog.showModal();
    dialog.onclose = async () => {
      const text = document.getElementById("comment-text").value.trim();
      if (dialog.returnValue !== "ok" || !text) return;
      const reply = await api("POST", `/api/v1/reviews/${PG.path(entry.item.bucket, entry.item.key)}/comments`,
        {text, version_id: entry.item.version_id});
      toast(reply.ok ? `Comment added to ${entry.item.key}` : PG.errorText(reply), reply.ok ? "ok" : "error");
    };
  }

  document.addEventListener("keydown", (e) => {
    if (e.target.closest("input, textarea, select, dialog") || e.metaKey || e.ctrlKey || e.altKey) return;
    const entry = rows[selected];
    if (e.key === "j") select(selected + 1);
    else if (e.key === "k") select(selected - 1);
    else if (e.key === "Enter" && entry) location.assign(PG.assetPage(entry.item.bucket, entry.item.key, entry.item.version_id));
    else if (e.key === "a" && entry && PG.can("reviewer")) decide(entry, "approve");
    else if (e.key === "r" && entry && PG.can("reviewer")) decide(entry, "reject");
    else if (e.key === "c" && entry && PG.can("writer")) { e.preventDefault(); comment(entry); }
    else return;
    e.preventDefault();
  });

  form.addEventListener("submit", (e) => {
    e.preventDefault();
    history.replaceState(null, "", "/ui/queue" + PG.query(PG.formParams(form)));
    selected = -1;
    load(false);
  });
  more.addEventListener("click", () => load(true));
  load(false);
})();
