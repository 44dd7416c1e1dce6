// Shared by every page: the caller (from the page's <meta> tags), the API call with the
// session's CSRF token, DOM building that never parses data as HTML, and small formatters.
"use strict";

const PG = (() => {
  const meta = (name) => {
    const tag = document.querySelector(`meta[name="${name}"]`);
    return tag ? tag.content : "";
  };
  const ROLES = ["reader", "writer", "reviewer", "publisher", "admin"];
  const user = meta("pg-user");
  const role = meta("pg-role");
  const csrf = meta("pg-csrf");

  // True when the caller's role is `needed` or above (what the API will allow).
  const can = (needed) => ROLES.indexOf(role) >= ROLES.indexOf(needed);

  // Each path segment of a key encoded, the slashes kept (the API's {key:.+}).
  const path = (bucket, key) =>
    encodeURIComponent(bucket) + "/" + key.split("/").map(encodeURIComponent).join("/");

  const query = (params) => {
    const q = new URLSearchParams();
    for (const [k, v] of Object.entries(params || {})) {
      if (v !== undefined && v !== null && v !== "") q.set(k, v);
    }
    const text = q.toString();
    return text ? "?" + text : "";
  };

  // {status, ok, data}; data is the parsed JSON (or null). Changes carry the CSRF token.
  async function api(method, url, body) {
    const init = {method, credentials: "same-origin", headers: {"Accept": "application/json"}};
    if (method !== "GET" && method !== "HEAD") init.headers["X-CSRF-Token"] = csrf;
    if (body !== undefined) {
      init.headers["Content-Type"] = "application/json";
      init.body = JSON.stringify(body);
    }
    let reply;
    try {
      reply = await fetch(url, init);
    } catch (err) {
      return {status: 0, ok: false, data: {error: {code: "Network", message: String(err)}}};
    }
    if (reply.status === 401) {
      window.location.assign("/ui/login?next=" + encodeURIComponent(location.pathname + location.search));
    }
    let data = null;
    const type = reply.headers.get("Content-Type") || "";
    if (type.includes("json")) data = await reply.json();
    return {status: reply.status, ok: reply.ok, data};
  }

  const errorText = (reply) =>
    (reply.data && reply.data.error && reply.data.error.message) || `HTTP ${reply.status}`;

  // el("a", {href: url, class: "x", onclick: fn}, "text", child) — text is always text.
  function el(tag, attrs, ...children) {
    const node = tag === "svg" || (attrs && attrs.svg)
      ? document.createElementNS("http://www.w3.org/2000/svg", tag)
      : document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v === undefined || v === null || v === false || k === "svg") continue;
      if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
      else if (k === "text") node.textContent = v;
      else if (k === "dataset") Object.assign(node.dataset, v);
      else node.setAttribute(k, v === true ? "" : v);
    }
    for (const child of children.flat(Infinity)) {
      if (child === undefined || child === null || child === false) continue;
      node.append(child instanceof Node ? child : document.createTextNode(String(child)));
    }
    return node;
  }

  const svg = (tag, attrs, ...children) => el(tag, {...attrs, svg: true}, ...children);

  function clear(node, ...children) {
    node.replaceChildren(...children.flat(Infinity).filter((c) => c !== null && c !== undefined));
    return node;
  }

  let toastTimer = null;
  function toast(message, kind) {
    const box = document.getElementById("toast");
    box.textContent = message;
    box.className = "toast " + (kind || "info");
    clearTimeout(toastTimer);
    toastTimer = setTimeout(() => box.classList.add("hidden"), 5000);
  }

  // Epoch seconds or ISO text → "2026-12-06 21:14".
  function when(value) {
    if (value === undefined || value === null || value === "") return "";
    const date = typeof value === "number" ? new Date(value * 1000) : new Date(value);
    if (isNaN(date)) return String(value);
    const pad = (n) => String(n).padStart(2, "0");
    return `${date.getFullYear()}-${pad(date.getMonth() + 1)}-${pad(date.getDate())} ` +
      `${pad(date.getHours())}:${pad(date.getMinutes())}`;
  }

  function ago(epoch) {
    const s = Math.max(0, Date.now() / 1000 - epoch);
    if (s < 90) return "just now";
    if (s < 5400) return `${Math.round(s / 60)} min ago`;
    if (s < 129600) return `${Math.round(s / 3600)} h ago`;
    return `${Math.round(s / 86400)} d ago`;
  }

  const bytes = (n) => {
    if (n === undefined || n === null) return "";
    const units = ["B", "KiB", "MiB", "GiB", "TiB"];
    let i = 0;
    while (n >= 1024 && i < units.length - 1) { n /= 1024; i++; }
    return `${i ? n.toFixed(1) : n} ${units[i]}`;
  };

  const timecode = (s) => {
    const m = Math.floor(s / 60);
    return `${m}:${(s - m * 60).toFixed(1).padStart(4, "0")}`;
  };

  const STATUS_WORDS = {pending: "Pending", approved: "Approved", changes_requested: "Changes requested",
    rejected: "Rejected", published: "Published", taken_down: "Taken down", expired: "Expired"};
  const badge = (status) => el("span", {class: `badge status-${status}`, text: STATUS_WORDS[status] || status});

  // What kind of media a content type is, for players and cards.
  function kind(contentType) {
    const t = (contentType || "").toLowerCase();
    if (t.startsWith("image/") && t !== "image/svg+xml") return "image";
    if (t.startsWith("video/")) return "video";
    if (t.startsWith("audio/")) return "audio";
    if (t === "application/pdf") return "pdf";
    return "other";
  }

  const thumbUrl = (bucket, key, versionId, size) =>
    `/api/v1/thumbnails/${path(bucket, key)}` + query({versionId, size});
  const contentUrl = (bucket, key, versionId) => `/api/v1/content/${path(bucket, key)}` + query({versionId});
  const assetPage = (bucket, key, versionId) => `/ui/asset/${path(bucket, key)}` + query({versionId});

  // A thumbnail, or a card naming the format when none can be made.
  function thumb(bucket, key, versionId, contentType, size) {
    const card = el("div", {class: "thumb-card", text: (key.split(".").pop() || "file").slice(0, 5).toUpperCase()});
    const img = el("img", {class: "thumb", alt: key, loading: "lazy", src: thumbUrl(bucket, key, versionId, size || "small")});
    img.addEventListener("error", () => img.replaceWith(card));
    return img;
  }

  function fillForm(form, params) {
    for (const field of form.elements) {
      if (field.name && params.has(field.name)) field.value = params.get(field.name);
    }
  }

  function formParams(form) {
    const out = {};
    for (const field of form.elements) {
      if (field.name && field.value) out[field.name] = field.value;
    }
    return out;
  }

  document.addEventListener("DOMContentLoaded", () => {
    for (const node of document.querySelectorAll("[data-min-role]")) {
      if (!can(node.dataset.minRole)) node.remove();
    }
    const page = document.body.dataset.page;
    for (const link of document.querySelectorAll("[data-nav]")) {
      if (link.dataset.nav === page || (page === "asset" && link.dataset.nav === "queue")) {
        link.classList.add("active");
      }
    }
  });

  return {user, role, csrf, can, path, query, api, errorText, el, svg, clear, toast, when, ago,
    bytes, timecode, badge, kind, thumb, thumbUrl, contentUrl, assetPage, fillForm, formParams};
})();
