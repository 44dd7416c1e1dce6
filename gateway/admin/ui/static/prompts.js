// The prompt library: prompts of approved assets by model and generator, searchable,
// with their best-rated results and one-click copy.
"use strict";

(() => {
  const {el, api, clear, toast} = PG;
  const form = document.getElementById("prompt-search");
  const target = document.getElementById("prompts");
  const more = document.getElementById("more");
  const PAGE = 20;
  let offset = 0;

  async function copy(text, what) {
    try {
      await navigator.clipboard.writeText(text);
      toast(`${what} copied`, "ok");
    } catch (err) {
      // Without clipboard permission (plain HTTP off loopback) the text is selected instead.
      const area = el("textarea", {class: "copy-fallback", readonly: true});
      area.value = text;
      document.body.append(area);
      area.select();
      toast(`Press Ctrl+C to copy the ${what.toLowerCase()}`, "info");
      setTimeout(() => area.remove(), 8000);
    }
  }

  function card(p) {
    const params = {...(p.parameters || {})};
    if (p.seed !== undefined && p.seed !== null) params.seed = p.seed;
    const paramText = Object.entries(params).map(([k, v]) => `${k}: ${typeof v === "object" ? JSON.stringify(v) : v}`).join(", ");
    return el("article", {class: "prompt-card"},
      el("div", {class: "prompt-text", text: p.prompt}),
      p.negative_prompt ? el("div", {class: "negative small", text: "Negative: " + p.negative_prompt}) : null,
      paramText ? el("div", {class: "params mono small", text: paramText}) : null,
      el("div", {class: "row"},
        el("button", {class: "small-btn copy-prompt", text: "Copy prompt", onclick: () => copy(p.prompt, "Prompt")}),
        el("button", {class: "small-btn", text: "Copy prompt + parameters", onclick: () => copy(
          [p.prompt, p.negative_prompt ? "Negative prompt: " + p.negative_prompt : null, paramText].filter(Boolean).join("\n"), "Prompt and parameters")})),
      el("div", {class: "best"}, (p.best || []).map((b) => el("a", {href: PG.assetPage(b.bucket, b.key, b.version_id), title: `${b.bucket}/${b.key}`},
        PG.thumb(b.bucket, b.key, b.version_id, "", "small"),
        el("span", {class: "stars", text: "★".repeat(b.rating || 0)})))));
  }

  async function load(append) {
    if (!append) offset = 0;
    const params = {...PG.formParams(form), limit: PAGE, offset};
    const reply = await api("GET", "/api/v1/prompts" + PG.query(params));
    if (!reply.ok) { clear(target, el("p", {class: "error", text: PG.errorText(reply)})); return; }
    const groups = reply.data.groups || [];
    const nodes = groups.map((g) => el("section", {class: "prompt-group"},
      el("h2", {}, el("span", {text: g.model || "unknown model"}), el("span", {class: "muted small", text: " · " + (g.generator || "unknown generator")})),
      el("div", {class: "prompt-grid"}, (g.prompts || []).map(card))));
    if (append) target.append(...nodes); else clear(target, nodes);
    const shown = groups.reduce((n, g) => n + (g.prompts || []).length, 0);
    offset += shown;
    more.classList.toggle("hidden", offset >= (reply.data.total || 0) || !shown);
    if (!target.children.length) clear(target, el("p", {class: "empty", text: "No approved asset carries a prompt that matches."}));
  }

  PG.fillForm(form, new URLSearchParams(location.search));
  form.addEventListener("submit", (e) => {
    e.preventDefault();
    history.replaceState(null, "", "/ui/prompts" + PG.query(PG.formParams(form)));
    load(false);
  });
  more.addEventListener("click", () => load(true));
  load(false);
})();
