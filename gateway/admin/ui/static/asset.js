// One asset: the version's media with its annotations, provenance, review actions,
// versions side by side, lineage, history and distribution. Everything from /api/v1.
"use strict";

(() => {
  const {el, svg, api, clear, toast} = PG;
  const root = document.getElementById("asset");
  const bucket = root.dataset.bucket;
  const key = root.dataset.key;
  let versionId = root.dataset.version || null;
  const base = `/api/v1/reviews/${PG.path(bucket, key)}`;
  let entry = null;         // the version as /api/v1/assets answers it
  let review = null;        // its review as /api/v1/reviews answers it
  let pinned = null;        // {region} or {timecode} the next comment is pinned to
  let player = null;        // the <video>/<audio> element, when there is one
  let overlay = null;       // the layer over the image that holds region boxes

  // -- loading -------------------------------------------------------------------------
  async function load() {
    const q = PG.query({versionId});
    const [a, r] = await Promise.all([api("GET", `/api/v1/assets/${PG.path(bucket, key)}${q}`), api("GET", base + q)]);
    if (!a.ok) {
      clear(document.getElementById("main"), el("section", {class: "card"},
        el("h1", {text: "Not available"}), el("p", {class: "error", text: PG.errorText(a)}),
        el("p", {}, el("a", {href: "/ui/queue", text: "Back to the queue"}))));
      return;
    }
    entry = a.data;
    review = r.ok ? r.data : null;
    versionId = entry.version_id;
    renderHead();
    renderMedia();
    renderReview();
    drawAnnotations();
    renderProvenance();
    renderVersions();
    renderHistory();
    loadLineage();
    loadDistribution();
  }

  async function refreshReview(state) {
    if (state) review = {...review, ...state};
    const r = await api("GET", base + PG.query({versionId}));
    if (r.ok) review = r.data;
    const a = await api("GET", `/api/v1/assets/${PG.path(bucket, key)}` + PG.query({versionId}));
    if (a.ok) entry = a.data;
    renderHead();
    renderReview();
    renderVersions();
    renderHistory();
    drawAnnotations();
  }

  const record = () => entry.record || {};

  function renderHead() {
    const rec = record();
    const status = review ? review.status : "pending";
    clear(document.getElementById("status-badge"), PG.badge(status));
    document.getElementById("asset-sub").textContent = [
      rec.content_type, PG.bytes(rec.size), `version ${versionId}`,
      rec.identity ? `written by ${rec.identity}` : null, rec.door ? `via ${rec.door}` : null,
      PG.when(entry.committed)].filter(Boolean).join(" · ");
  }

  // -- media and annotations ---------------------------------------------------------
  function renderMedia() {
    const rec = record();
    const box = document.getElementById("media");
    const tools = document.getElementById("media-tools");
    const kind = PG.kind(rec.content_type);
    clear(tools);
    if (kind === "image") {
      const img = el("img", {id: "media-image", alt: key, draggable: "false", src: PG.thumbUrl(bucket, key, versionId, "large")});
      overlay = el("div", {id: "overlay", class: "overlay"});
      const stage = el("div", {class: "stage"}, img, overlay);
      img.addEventListener("error", () => {
        clear(box, el("div", {class: "format-card"},
          el("div", {class: "big-ext", text: "IMAGE"}),
          el("p", {text: "No preview could be made of this image."}),
          el("button", {id: "load-original", text: `Load the original (${PG.bytes(rec.size)})`,
            onclick: () => { img.src = PG.contentUrl(bucket, key, versionId); clear(box, stage); }})));
      }, {once: true});
      img.addEventListener("load", drawAnnotations);
      clear(box, stage);
      if (PG.can("writer")) {
        enableDrawing(overlay);
        tools.append("Drag on the image to comment on a region.");
      }
      tools.append(" ", el("a", {href: PG.contentUrl(bucket, key, versionId), target: "_blank", rel: "noopener", text: "Open the original"}));
    } else if (kind === "video" || kind === "audio") {
      player = el(kind, {id: "player", controls: true, preload: "metadata", src: PG.contentUrl(bucket, key, versionId),
        poster: kind === "video" ? PG.thumbUrl(bucket, key, versionId, "large") : null});
      const markers = el("div", {id: "markers", class: "markers"});
      clear(box, el("div", {class: `player ${kind}`}, player, markers));
      player.addEventListener("loadedmetadata", drawAnnotations);
      if (PG.can("writer")) {
        let rangeStart = null;
        const rangeBtn = el("button", {id: "mark-range", class: "small-btn", text: "Start a range here"});
        rangeBtn.addEventListener("click", () => {
          if (rangeStart === null) {
            rangeStart = player.currentTime;
            rangeBtn.textContent = `End the range (from ${PG.timecode(rangeStart)})`;
          } else {
            const a = Math.min(rangeStart, player.currentTime);
            const b = Math.max(rangeStart, player.currentTime);
            rangeStart = null;
            rangeBtn.textContent = "Start a range here";
            pin({timecode: {start: a, end: b}});
          }
        });
        tools.append(
          el("button", {id: "mark-time", class: "small-btn", text: "Comment at the current time",
            onclick: () => pin({timecode: {start: player.currentTime, end: player.currentTime}})}),
          " ", rangeBtn);
      }
    } else if (kind === "pdf") {
      clear(box, el("div", {class: "stage"}, PG.thumb(bucket, key, versionId, rec.content_type, "large")));
      tools.append(el("a", {href: PG.contentUrl(bucket, key, versionId), text: "Download the PDF"}));
    } else {
      const ext = (key.split(".").pop() || "file").toUpperCase().slice(0, 6);
      clear(box, el("div", {class: "format-card"},
        el("div", {class: "big-ext", text: ext}),
        el("p", {text: `${rec.content_type || "unknown type"} · ${PG.bytes(rec.size)}`}),
        el("a", {href: PG.contentUrl(bucket, key, versionId), text: "Download"})));
    }
  }

  function enableDrawing(layer) {
    let start = null;
    let ghost = null;
    const at = (e) => {
      const r = layer.getBoundingClientRect();
      return {x: Math.min(1, Math.max(0, (e.clientX - r.left) / r.width)),
        y: Math.min(1, Math.max(0, (e.clientY - r.top) / r.height))};
    };
    layer.addEventListener("pointerdown", (e) => {
      if (e.button !== 0 || e.target.closest(".region")) return;
      start = at(e);
      ghost = el("div", {class: "region drawing"});
      layer.append(ghost);
      layer.setPointerCapture(e.pointerId);
      e.preventDefault();
    });
    layer.addEventListener("pointermove", (e) => {
      if (!start) return;
      place(ghost, box(start, at(e)));
    });
    layer.addEventListener("pointerup", (e) => {
      if (!start) return;
      const region = box(start, at(e));
      start = null;
      ghost.remove();
      if (region.w < 0.01 || region.h < 0.01) return;
      pin({region});
    });
  }

  const round = (v) => Math.round(v * 10000) / 10000;
  function box(a, b) {
    const x = round(Math.min(a.x, b.x));
    const y = round(Math.min(a.y, b.y));
    return {x, y, w: round(Math.min(1 - x, Math.abs(a.x - b.x))), h: round(Math.min(1 - y, Math.abs(a.y - b.y)))};
  }

  function place(node, r) {
    node.style.left = `${r.x * 100}%`;
    node.style.top = `${r.y * 100}%`;
    node.style.width = `${r.w * 100}%`;
    node.style.height = `${r.h * 100}%`;
  }

  function pin(where) {
    pinned = where;
    const label = document.getElementById("pin");
    if (!label) return;
    const text = where.region
      ? `Pinned to region x ${where.region.x.toFixed(2)}, y ${where.region.y.toFixed(2)}, ${where.region.w.toFixed(2)} × ${where.region.h.toFixed(2)}`
      : where.timecode.start === where.timecode.end
        ? `Pinned to ${PG.timecode(where.timecode.start)}`
        : `Pinned to ${PG.timecode(where.timecode.start)}–${PG.timecode(where.timecode.end)}`;
    clear(label, el("span", {class: "pin-chip", text}), " ",
      el("button", {type: "button", class: "link", text: "unpin", onclick: () => { pinned = null; clear(label); drawAnnotations(); }}));
    drawAnnotations();
    document.getElementById("new-comment-text").focus();
  }

  const comments = () => (review && review.comments) || [];
  const number = (c) => comments().filter((x) => !x.reply_to).indexOf(c) + 1;

  function drawAnnotations() {
    if (overlay) {
      for (const node of overlay.querySelectorAll(".region:not(.drawing)")) node.remove();
      for (const c of comments()) {
        if (c.x === undefined || c.x === null || c.reply_to) continue;
        const node = el("div", {class: "region" + (c.resolved_at ? " resolved" : ""), "data-comment": c.id, title: c.text},
          el("span", {class: "region-label", text: String(number(c))}));
        place(node, c);
        node.addEventListener("click", () => focusComment(c.id));
        overlay.append(node);
      }
      if (pinned && pinned.region) {
        const node = el("div", {class: "region pending"});
        place(node, pinned.region);
        overlay.append(node);
      }
    }
    const markers = document.getElementById("markers");
    if (markers && player) {
      clear(markers);
      const length = player.duration || 0;
      for (const c of comments()) {
        if (c.start === undefined || c.start === null || c.reply_to || !length) continue;
        const node = el("button", {class: "marker" + (c.resolved_at ? " resolved" : ""), "data-comment": c.id,
          title: `${PG.timecode(c.start)} ${c.text}`, text: String(number(c))});
        node.style.left = `${Math.min(100, (c.start / length) * 100)}%`;
        if (c.end > c.start) node.style.width = `${Math.max(1.5, ((c.end - c.start) / length) * 100)}%`;
        node.addEventListener("click", () => { player.currentTime = c.start; focusComment(c.id); });
        markers.append(node);
      }
    }
  }

  function focusComment(id) {
    const node = document.querySelector(`.comment[data-id="${id}"]`);
    if (node) { node.scrollIntoView({block: "center"}); node.classList.add("flash"); setTimeout(() => node.classList.remove("flash"), 1200); }
  }

  // -- review --------------------------------------------------------------------------
  function renderReview() {
    const actions = document.getElementById("actions");
    const approvals = document.getElementById("approvals");
    const standing = (review && review.approvals) || [];
    const decisions = (review && review.decisions) || [];
    clear(approvals,
      el("div", {text: `${standing.length} approval${standing.length === 1 ? "" : "s"} standing` +
        (standing.length ? ": " + standing.map((a) => a.identity).join(", ") : "")}),
      decisions.length ? el("ul", {class: "decisions"}, decisions.map((d) =>
        el("li", {}, el("strong", {text: d.by}), ` ${d.decision.replace("_", " ")} · ${PG.when(d.at)}`,
          d.note ? el("div", {class: "note", text: d.note}) : null))) : null);
    clear(actions);
    if (PG.can("reviewer")) {
      const note = el("textarea", {id: "decision-note", rows: "2", placeholder: "Note for the author (optional)"});
      const act = (decision) => async () => {
        const reply = await api("POST", base + "/decisions", {decision, version_id: versionId, note: note.value.trim() || undefined});
        if (!reply.ok) { toast(PG.errorText(reply), "error"); return; }
        note.value = "";
        const waiting = (reply.data.waiting_for || []).map((w) => w.message).join("; ");
        toast(`Recorded: ${reply.data.status.replace("_", " ")}${waiting ? " — still needed: " + waiting : ""}`, "ok");
        refreshReview();
      };
      actions.append(note, el("div", {class: "row"},
        el("button", {id: "approve", class: "approve", text: "Approve", onclick: act("approve")}),
        el("button", {id: "request-changes", class: "changes", text: "Request changes", onclick: act("request-changes")}),
        el("button", {id: "reject", class: "reject", text: "Reject", onclick: act("reject")})));
    } else {
      actions.append(el("p", {class: "muted small", text: `Decisions are made by reviewers; you are signed in as ${PG.role}.`}));
    }
    const rating = document.getElementById("rating");
    const current = (review && review.rating) || 0;
    clear(rating, el("span", {class: "muted small", text: "Rating "}),
      [1, 2, 3, 4, 5].map((n) => PG.can("reviewer")
        ? el("button", {class: "star" + (n <= current ? " on" : ""), "data-rating": String(n), title: `Rate ${n}`, text: "★",
          onclick: async () => {
            const reply = await api("PUT", base + "/rating", {rating: n === current ? 0 : n, version_id: versionId});
            if (!reply.ok) toast(PG.errorText(reply), "error"); else refreshReview();
          }})
        : el("span", {class: "star" + (n <= current ? " on" : ""), text: "★"})));
    renderComments();
  }

  function renderComments() {
    const list = document.getElementById("comments");
    const all = comments();
    document.getElementById("comment-count").textContent = all.length ? String(all.length) : "";
    const top = all.filter((c) => !c.reply_to);
    clear(list, top.length ? top.map((c) => thread(c, all)) : el("p", {class: "muted small", text: "No comments on this version yet."}));
  }

  function where(c) {
    if (c.x !== undefined && c.x !== null) return `region ${Math.round(c.x * 100)}%, ${Math.round(c.y * 100)}% · ${Math.round(c.w * 100)}×${Math.round(c.h * 100)}%`;
    if (c.start !== undefined && c.start !== null) return c.end > c.start ? `${PG.timecode(c.start)}–${PG.timecode(c.end)}` : `at ${PG.timecode(c.start)}`;
    return null;
  }

  function thread(c, all) {
    const replies = all.filter((r) => r.reply_to === c.id);
    const node = el("div", {class: "comment" + (c.resolved_at ? " resolved" : ""), "data-id": c.id},
      el("div", {class: "comment-head"},
        el("span", {class: "num", text: String(number(c))}),
        el("strong", {text: c.by}), el("span", {class: "muted small", text: PG.when(c.at)}),
        where(c) ? el("button", {class: "where link small", text: where(c), onclick: () => {
          if (player && c.start !== undefined && c.start !== null) player.currentTime = c.start;
          const region = overlay && overlay.querySelector(`.region[data-comment="${c.id}"]`);
          if (region) { region.classList.add("flash"); setTimeout(() => region.classList.remove("flash"), 1200); }
        }}) : null,
        c.resolved_at ? el("span", {class: "chip ok", text: `resolved by ${c.resolved_by}`}) : null),
      el("div", {class: "comment-text", text: c.text}),
      replies.map((r) => el("div", {class: "reply", "data-id": r.id},
        el("strong", {text: r.by}), " ", el("span", {class: "muted small", text: PG.when(r.at)}),
        el("div", {class: "comment-text", text: r.text}))));
    if (PG.can("writer")) {
      const box = el("div", {class: "reply-box hidden"},
        el("textarea", {rows: "2", placeholder: "Reply…"}),
        el("button", {class: "small-btn primary", text: "Send", onclick: async () => {
          const text = box.querySelector("textarea").value.trim();
          if (!text) return;
          const reply = await api("POST", base + "/comments", {text, reply_to: c.id, version_id: versionId});
          if (!reply.ok) toast(PG.errorText(reply), "error"); else refreshReview();
        }}));
      node.append(el("div", {class: "comment-actions"},
        el("button", {class: "link small", text: "Reply", onclick: () => box.classList.toggle("hidden")}),
        c.resolved_at ? null : el("button", {class: "link small resolve", text: "Resolve", onclick: async () => {
          const reply = await api("POST", `${base}/comments/${c.id}/resolve`, {version_id: versionId});
          if (!reply.ok) toast(PG.errorText(reply), "error"); else refreshReview();
        }})), box);
    }
    return node;
  }

  const form = document.getElementById("new-comment");
  if (form) {
    form.addEventListener("submit", async (e) => {
      e.preventDefault();
      const text = document.getElementById("new-comment-text").value.trim();
      if (!text) return;
      const reply = await api("POST", base + "/comments", {text, version_id: versionId, ...(pinned || {})});
      if (!reply.ok) { toast(PG.errorText(reply), "error"); return; }
      document.getElementById("new-comment-text").value = "";
      pinned = null;
      clear(document.getElementById("pin"));
      toast("Comment added", "ok");
      refreshReview();
    });
  }

  // -- provenance ----------------------------------------------------------------------
  function facts(list, pairs) {
    const rows = pairs.filter(([, v]) => v !== undefined && v !== null && v !== "" && !(Array.isArray(v) && !v.length));
    clear(list, rows.length ? rows.map(([k, v, cls]) => [el("dt", {text: k}), el("dd", {class: cls || "", text: Array.isArray(v) ? v.join(", ") : String(v)})])
      : el("p", {class: "muted small", text: "Nothing recorded."}));
  }

  const lastPart = (uri) => (uri || "").split("/").pop() || undefined;

  function renderProvenance() {
    const rec = record();
    const gen = rec.generation || {};
    const c2pa = rec.c2pa;
    facts(document.getElementById("provenance"), [
      ["Prompt", rec.prompt, "prompt"], ["Negative prompt", rec.negative_prompt, "prompt"],
      ["Prompt author", rec.prompt_author], ["Model", [rec.model, rec.model_version].filter(Boolean).join(" ")],
      ["Generator", rec.generator], ["Seed", rec.seed], ["Steps", rec.steps], ["Sampler", rec.sampler],
      ["CFG scale", rec.cfg_scale], ["Size", gen.width && gen.height ? `${gen.width} × ${gen.height}` : undefined],
      ["Scheduler", gen.scheduler], ["Denoise", gen.denoise], ["Model hash", gen.model_hash],
      ...Object.entries(gen.extra || {}).map(([k, v]) => [k, typeof v === "object" ? JSON.stringify(v) : v]),
      ["Source type", lastPart(rec.source_type)], ["Job", rec.job_id], ["Cost (credits)", rec.cost],
      ["Sources", (rec.sources || []).map((s) => `${s.role}: ${s.ref ? s.ref.bucket + "/" + s.ref.key : s.name || "?"} (${s.origin})`)],
      ["Derived from", (rec.derived_from || []).map((r) => `${r.bucket}/${r.key}`)],
      ["C2PA", c2pa ? [c2pa.validation_state || "present", c2pa.claim_generator, c2pa.signature_issuer].filter(Boolean).join(" · ") : "no manifest"],
      ["Campaign", rec.campaign], ["Brand", rec.brand], ["SKU", rec.sku], ["Channel", rec.channel],
      ["Embedded", rec.detected], ["SHA-256", rec.sha256, "mono small"]]);
    facts(document.getElementById("rights"), [
      ["Creator", rec.creator], ["Copyright", rec.copyright], ["Owner", rec.owner], ["Credit", rec.credit],
      ["License", rec.license], ["License URL", rec.license_url], ["Usage terms", rec.usage_terms],
      ["Licensor", rec.licensor], ["License expires", rec.license_expires],
      ["Model release", lastPart(rec.model_release)], ["People", rec.people], ["Data mining", lastPart(rec.data_mining)]]);
    const warnings = entry.policy_warnings || [];
    const notices = rec.notices || [];
    clear(document.getElementById("policy"),
      warnings.length ? el("ul", {class: "warnings"}, warnings.map((w) => el("li", {class: "warn", text: w})))
        : el("p", {class: "muted small", text: "No policy warnings."}),
      notices.length ? el("ul", {class: "notices small"}, notices.map((n) => el("li", {text: n.message || JSON.stringify(n)}))) : null);
  }

  // -- versions ------------------------------------------------------------------------
  const compareWith = new Set();

  function renderVersions() {
    const list = document.getElementById("versions");
    const versions = (review && review.versions) || [];
    clear(list, el("table", {class: "table"},
      el("thead", {}, el("tr", {}, el("th", {text: "Compare"}), el("th", {text: "Version"}), el("th", {text: "Stored"}), el("th", {text: "Status"}))),
      el("tbody", {}, versions.slice().reverse().map((v) => {
        const box = el("input", {type: "checkbox", class: "pick", "data-version": v.version_id, checked: compareWith.has(v.version_id)});
        box.addEventListener("change", () => {
          if (box.checked) compareWith.add(v.version_id); else compareWith.delete(v.version_id);
          while (compareWith.size > 2) compareWith.delete(compareWith.values().next().value);
          renderVersions();
          compare();
        });
        return el("tr", {class: v.version_id === versionId ? "current-row" : ""},
          el("td", {}, box),
          el("td", {}, el("a", {class: "mono small", href: PG.assetPage(bucket, key, v.version_id), text: v.version_id})),
          el("td", {class: "small", text: PG.when(v.committed)}), el("td", {}, PG.badge(v.status)));
      }))),
      versions.length > 1 ? el("p", {class: "muted small", text: "Tick two versions to see them side by side."}) : null);
  }

  function flatten(rec) {
    const out = {};
    for (const name of ["prompt", "negative_prompt", "model", "model_version", "generator", "seed", "steps", "sampler",
      "cfg_scale", "cost", "content_type", "size", "source_type", "campaign", "brand", "sku"]) {
      if (rec[name] !== undefined) out[name] = rec[name];
    }
    const gen = rec.generation || {};
    for (const name of ["width", "height", "scheduler", "denoise", "model_hash"]) {
      if (gen[name] !== undefined) out[name] = gen[name];
    }
    for (const [k, v] of Object.entries(gen.extra || {})) out[k] = typeof v === "object" ? JSON.stringify(v) : v;
    return out;
  }

  async function compare() {
    const target = document.getElementById("compare");
    const picked = [...compareWith];
    if (picked.length !== 2) { clear(target); return; }
    const docs = await Promise.all(picked.map((v) => api("GET", `/api/v1/assets/${PG.path(bucket, key)}` + PG.query({versionId: v}))));
    if (!docs.every((d) => d.ok)) { clear(target, el("p", {class: "error", text: PG.errorText(docs.find((d) => !d.ok))})); return; }
    const [a, b] = docs.map((d) => flatten(d.data.record || {}));
    const names = [...new Set([...Object.keys(a), ...Object.keys(b)])];
    const changed = names.filter((n) => JSON.stringify(a[n]) !== JSON.stringify(b[n]));
    clear(target,
      el("div", {class: "side-by-side"}, picked.map((v, i) => el("figure", {},
        PG.thumb(bucket, key, v, docs[i].data.record && docs[i].data.record.content_type, "large"),
        el("figcaption", {class: "mono small", text: v})))),
      el("table", {class: "table diff"},
        el("thead", {}, el("tr", {}, el("th", {text: "Parameter"}), el("th", {text: picked[0].slice(0, 12)}), el("th", {text: picked[1].slice(0, 12)}))),
        el("tbody", {}, changed.length ? changed.map((n) => el("tr", {},
          el("td", {class: "mono", text: n}), el("td", {class: "old", text: a[n] === undefined ? "—" : String(a[n])}),
          el("td", {class: "new", text: b[n] === undefined ? "—" : String(b[n])})))
          : el("tr", {}, el("td", {colspan: "3", class: "muted", text: "The two versions were made with the same parameters."})))));
  }

  // -- lineage, history, distribution --------------------------------------------------
  async function loadLineage() {
    const target = document.getElementById("lineage");
    const reply = await api("GET", `/api/v1/lineage/${PG.path(bucket, key)}` + PG.query({versionId}));
    if (!reply.ok) { clear(target, el("p", {class: "muted small", text: PG.errorText(reply)})); return; }
    const parents = reply.data.parents || [];
    const children = reply.data.children || [];
    if (!parents.length && !children.length) {
      clear(target, el("p", {class: "muted small", text: "Made from nothing stored here, and nothing stored was made from it."}));
      return;
    }
    const rowH = 34;
    const height = Math.max(parents.length, children.length, 1) * rowH + 16;
    const width = 340;
    const graph = svg("svg", {viewBox: `0 0 ${width} ${height}`, width: "100%", class: "lineage-graph", role: "img", "aria-label": "lineage"});
    const node = (x, y, ref, cls) => {
      const label = (ref.key || "").split("/").pop();
      const link = svg("a", {href: PG.assetPage(ref.bucket, ref.key, ref.version_id)},
        svg("rect", {x: x, y: y - 12, width: 100, height: 24, rx: 6, class: cls}),
        svg("text", {x: x + 50, y: y + 4, "text-anchor": "middle", class: "node-text"}, label.length > 14 ? label.slice(0, 13) + "…" : label),
        svg("title", {}, `${ref.bucket}/${ref.key}${ref.version_id ? " @ " + ref.version_id : ""}`));
      graph.append(link);
    };
    const mid = height / 2;
    const column = (items, x, cls, edgeFrom) => items.forEach((ref, i) => {
      const y = 8 + rowH / 2 + i * rowH + (height - 16 - items.length * rowH) / 2;
      graph.append(svg("path", {d: edgeFrom(y), class: "edge"}));
      node(x, y, ref, cls);
    });
    column(parents, 4, "parent", (y) => `M104 ${y} C 130 ${y}, 100 ${mid}, 120 ${mid}`);
    column(children, 236, "child", (y) => `M220 ${mid} C 240 ${mid}, 210 ${y}, 236 ${y}`);
    node(120, mid, {bucket, key, version_id: versionId}, "self");
    clear(target, graph, el("p", {class: "muted small", text: `${parents.length} parent${parents.length === 1 ? "" : "s"} · ${children.length} derived`}));
  }

  function renderHistory() {
    const events = (entry.history || []).slice().reverse();
    clear(document.getElementById("history"), events.map((e) => el("li", {class: "event-" + e.action},
      el("div", {}, el("strong", {text: e.action}), " ", el("span", {class: "muted small", text: PG.when(e.when)})),
      e.parameters ? el("div", {class: "small", text: e.parameters}) : null)));
  }

  async function loadDistribution() {
    const target = document.getElementById("distribution");
    const reply = await api("GET", "/api/v1/distribution/status" + PG.query({bucket, key}));
    if (!reply.ok) { clear(target, el("p", {class: "muted small", text: PG.errorText(reply)})); return; }
    const jobs = (reply.data.jobs || []).filter((j) => j.version_id === versionId);
    if (!jobs.length) {
      const names = Object.keys(reply.data.targets || {});
      clear(target, el("p", {class: "muted small", text: names.length ? `Not sent to any target (${names.join(", ")}).` : "No distribution targets are configured."}));
      return;
    }
    clear(target, el("table", {class: "table"}, el("tbody", {}, jobs.map((j) => el("tr", {},
      el("td", {class: "mono", text: j.target}), el("td", {text: j.op}),
      el("td", {}, el("span", {class: "chip state-" + j.state, text: j.state})),
      el("td", {class: "small muted", text: j.last_error || j.reason || j.location || ""}))))));
  }

  load();
})();
