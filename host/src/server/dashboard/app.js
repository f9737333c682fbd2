// The batch-host dashboard: a small single-page app over /api/v1. Every value that comes from a
// job or a plugin (names, messages, payloads) is put into the page as text, never as markup.
"use strict";

const TOKEN_KEY = "batch-host-token";
const REFRESH_MS = 2000;
const PAYLOAD_PREVIEW = 160;
const COLORS = ["#2457c5", "#1f7a3d", "#a15c07", "#7a3db8", "#b42318", "#0e7490"];
let timer = null;

const $ = (sel) => document.querySelector(sel);

/** An element with attributes and children (strings become text nodes). */
function el(tag, attrs = {}, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === "class") e.className = v;
    else if (k.startsWith("on")) e.addEventListener(k.slice(2), v);
    else if (v !== undefined && v !== null && v !== false) e.setAttribute(k, v === true ? "" : v);
  }
  for (const c of children.flat()) {
    if (c === null || c === undefined) continue;
    e.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return e;
}

function svg(tag, attrs = {}, ...children) {
  const e = document.createElementNS("http://www.w3.org/2000/svg", tag);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
  for (const c of children) e.append(c instanceof Node ? c : document.createTextNode(String(c)));
  return e;
}

function token() { return sessionStorage.getItem(TOKEN_KEY); }

/** Calls the API; a 401 sends the user back to the token page. */
async function api(path, options = {}) {
  const headers = Object.assign({ Authorization: "Bearer " + token() }, options.headers || {});
  const res = await fetch("/api/v1" + path, Object.assign({}, options, { headers }));
  if (res.status === 401) {
    sessionStorage.removeItem(TOKEN_KEY);
    location.hash = "#/login";
    throw new Error("the token was refused");
  }
  const type = res.headers.get("content-type") || "";
  const body = type.startsWith("application/json") ? await res.json() : await res.text();
  if (!res.ok) {
    const msg = body && body.error ? body.error.message : String(body);
    throw new Error(msg);
  }
  return body;
}

function status(s) { return el("span", { class: "status " + s, "data-status": s }, s); }

function duration(start, end) {
  if (!start) return "-";
  const ms = (end ? new Date(end) : new Date()) - new Date(start);
  if (ms < 1000) return ms + " ms";
  const s = ms / 1000;
  return s < 120 ? s.toFixed(1) + " s" : Math.floor(s / 60) + " min " + Math.round(s % 60) + " s";
}

function time(t) { return t ? new Date(t).toLocaleString() : "-"; }

function setMain(...children) {
  const main = $("#main");
  main.replaceChildren(...children);
}

function line(text) { $("#status-line").textContent = text; }

function showError(where, e) {
  where.replaceChildren(el("div", { class: "error", role: "alert" }, e.message));
}

// --- pages -----------------------------------------------------------------------------------

function loginPage() {
  const input = el("input", { type: "password", id: "token", autocomplete: "off", placeholder: "bh_…" });
  const err = el("div");
  const form = el("form", {
    class: "card",
    onsubmit: async (ev) => {
      ev.preventDefault();
      const candidate = input.value.trim();
      try {
        const res = await fetch("/api/v1/whoami", { headers: { Authorization: "Bearer " + candidate } });
        const body = await res.json();
        if (!res.ok) throw new Error(body.error ? body.error.message : "the token was refused");
        sessionStorage.setItem(TOKEN_KEY, candidate);
        if (location.hash === "#/" || location.hash === "") route(); else location.hash = "#/";
      } catch (e) {
        showError(err, e);
      }
    },
  },
  el("h1", {}, "Sign in"),
  el("label", { for: "token" }, "Bearer token"),
  input,
  el("p", { class: "muted" }, "An operator creates tokens with `batch-host --tenant NAME token create`. The token stays in this tab only."),
  el("button", { type: "submit", id: "login" }, "Sign in"),
  err);
  setMain(form);
  input.focus();
}

async function executionsPage() {
  const body = el("tbody", { id: "executions" });
  const err = el("div");
  setMain(
    el("h1", {}, "Executions"),
    err,
    el("table", {},
      el("thead", {}, el("tr", {},
        el("th", { class: "num" }, "Execution"), el("th", {}, "Job"), el("th", {}, "Status"),
        el("th", {}, "Started"), el("th", { class: "num" }, "Duration"),
        el("th", { class: "num" }, "Read"), el("th", { class: "num" }, "Written"),
        el("th", { class: "num" }, "Skipped"), el("th", {}, "Exit code"))),
      body));
  const load = async () => {
    try {
      const page = await api("/executions?limit=50");
      body.replaceChildren(...page.executions.map((e) => el("tr", { "data-execution": e.execution_id },
        el("td", { class: "num" }, el("a", { href: "#/executions/" + e.execution_id }, e.execution_id)),
        el("td", {}, e.job), el("td", {}, status(e.status)), el("td", {}, time(e.start_time)),
        el("td", { class: "num" }, duration(e.start_time, e.end_time)),
        el("td", { class: "num", "data-col": "read" }, e.totals.read),
        el("td", { class: "num", "data-col": "write" }, e.totals.write),
        el("td", { class: "num", "data-col": "skip" }, e.totals.skip),
        el("td", {}, e.exit_code))));
      if (page.executions.length === 0) body.replaceChildren(el("tr", {}, el("td", { colspan: 9, class: "muted" }, "No executions yet: submit a job with POST /api/v1/jobs.")));
      err.replaceChildren();
      line("refreshed " + new Date().toLocaleTimeString());
    } catch (e) { showError(err, e); }
  };
  await load();
  timer = setInterval(load, REFRESH_MS);
}

function chart(steps) {
  const W = 760, H = 220, L = 60, B = 28, T = 10, R = 10;
  const series = steps.map((s) => {
    const pts = s.points.map((p) => ({ t: new Date(p.at).getTime(), n: p.read }));
    const rates = [];
    for (let i = 1; i < pts.length; i++) {
      const dt = (pts[i].t - pts[i - 1].t) / 1000;
      if (dt > 0) rates.push({ t: pts[i].t, r: (pts[i].n - pts[i - 1].n) / dt });
    }
    return { name: s.step, rates };
  }).filter((s) => s.rates.length > 0);
  if (series.length === 0) return el("p", { class: "muted", id: "chart-empty" }, "No committed chunks yet.");
  const all = series.flatMap((s) => s.rates);
  const t0 = Math.min(...all.map((p) => p.t)), t1 = Math.max(...all.map((p) => p.t), t0 + 1);
  const rmax = Math.max(...all.map((p) => p.r), 1);
  const x = (t) => L + ((t - t0) / (t1 - t0)) * (W - L - R);
  const y = (r) => T + (1 - r / rmax) * (H - T - B);
  const g = svg("svg", { class: "chart", id: "throughput", width: W, height: H, viewBox: `0 0 ${W} ${H}`, role: "img", "aria-label": "items read per second by step" });
  g.append(svg("line", { class: "axis", x1: L, y1: H - B, x2: W - R, y2: H - B }));
  g.append(svg("line", { class: "axis", x1: L, y1: T, x2: L, y2: H - B }));
  g.append(svg("text", { x: 4, y: T + 10 }, Math.round(rmax).toLocaleString() + "/s"));
  g.append(svg("text", { x: 4, y: H - B }, "0"));
  g.append(svg("text", { x: L, y: H - 8 }, "0 s"));
  g.append(svg("text", { x: W - R - 50, y: H - 8 }, ((t1 - t0) / 1000).toFixed(1) + " s"));
  series.forEach((s, i) => {
    const d = s.rates.map((p, j) => (j ? "L" : "M") + x(p.t).toFixed(1) + " " + y(p.r).toFixed(1)).join(" ");
    g.append(svg("path", { d, fill: "none", stroke: COLORS[i % COLORS.length], "stroke-width": 2, "data-step": s.name }));
  });
  const legend = el("div", { class: "legend" }, series.map((s, i) => el("span", {}, el("i"), s.name)));
  legend.querySelectorAll("i").forEach((i, n) => { i.style.background = COLORS[n % COLORS.length]; });
  return el("div", {}, g, legend);
}

async function executionPage(id) {
  const err = el("div");
  const head = el("div");
  const actions = el("div", { class: "actions" });
  const flow = el("div", { class: "flow", id: "flow" });
  const steps = el("tbody", { id: "steps" });
  const chartBox = el("div", { id: "chart" });
  const skipped = el("tbody", { id: "skipped" });
  const skippedNote = el("p", { class: "muted" });
  const download = el("button", { type: "button", class: "secondary", id: "download" }, "Download skipped items (JSON lines)");
  download.addEventListener("click", async () => {
    try {
      const text = await api(`/executions/${id}/skipped?format=jsonl`);
      const url = URL.createObjectURL(new Blob([text], { type: "application/x-ndjson" }));
      const a = el("a", { href: url, download: `skipped-${id}.jsonl` });
      document.body.append(a); a.click(); a.remove();
      setTimeout(() => URL.revokeObjectURL(url), 10000);
    } catch (e) { showError(err, e); }
  });
  setMain(
    el("p", {}, el("a", { href: "#/" }, "← Executions")),
    head, err, actions,
    el("h2", {}, "Flow taken"), flow,
    el("h2", {}, "Steps"),
    el("table", {}, el("thead", {}, el("tr", {},
      el("th", {}, "Step"), el("th", {}, "Status"), el("th", { class: "num" }, "Read"), el("th", { class: "num" }, "Written"),
      el("th", { class: "num" }, "Filtered"), el("th", { class: "num" }, "Skipped (r/p/w)"), el("th", { class: "num" }, "Commits"),
      el("th", { class: "num" }, "Rollbacks"), el("th", {}, "Exit code"), el("th", {}, "Message"))), steps),
    el("h2", {}, "Throughput (items read per second)"), chartBox,
    el("h2", {}, "Skipped items"), skippedNote, download,
    el("table", {}, el("thead", {}, el("tr", {},
      el("th", {}, "Step"), el("th", {}, "Phase"), el("th", { class: "num" }, "Position"), el("th", {}, "Kind"),
      el("th", {}, "Message"), el("th", {}, "Payload"))), skipped));
  const act = async (what) => {
    try {
      const r = await api(`/executions/${id}/${what}`, { method: "POST" });
      if (what === "restart") location.hash = "#/executions/" + r.execution.execution_id;
      else await load();
    } catch (e) { showError(err, e); }
  };
  const load = async () => {
    try {
      const e = await api("/executions/" + id);
      head.replaceChildren(
        el("h1", {}, `Execution ${e.execution_id} of `, el("span", { id: "job-name" }, e.job), " ", status(e.status)),
        el("div", { class: "meta" },
          el("span", { class: "muted" }, "Instance"), el("span", {}, e.instance_id),
          el("span", { class: "muted" }, "Started"), el("span", {}, time(e.start_time)),
          el("span", { class: "muted" }, "Duration"), el("span", {}, duration(e.start_time, e.end_time)),
          el("span", { class: "muted" }, "Exit"), el("span", { id: "exit" }, e.exit_code + (e.exit_message ? " — " + e.exit_message : "")),
          el("span", { class: "muted" }, "Parameters"), el("span", { class: "mono" }, Object.entries(e.parameters).map(([k, p]) => `${k}=${p.value}`).join(", ") || "none")));
      const running = ["STARTING", "STARTED"].includes(e.status);
      const restartable = ["FAILED", "STOPPED"].includes(e.status);
      actions.replaceChildren(
        el("button", { type: "button", id: "stop", disabled: !running, onclick: () => act("stop") }, "Stop"),
        el("button", { type: "button", id: "restart", class: "secondary", disabled: !restartable, onclick: () => act("restart") }, "Restart"));
      flow.replaceChildren(...e.steps.flatMap((s, i) => [i ? el("span", { class: "arrow" }, "→") : null, el("span", {}, s.step, " ", status(s.status))]).filter(Boolean));
      steps.replaceChildren(...e.steps.map((s) => el("tr", { "data-step": s.step },
        el("td", {}, s.step), el("td", {}, status(s.status)),
        el("td", { class: "num", "data-col": "read" }, s.read), el("td", { class: "num", "data-col": "write" }, s.write),
        el("td", { class: "num" }, s.filter), el("td", { class: "num", "data-col": "skip" }, `${s.read_skip}/${s.process_skip}/${s.write_skip}`),
        el("td", { class: "num", "data-col": "commit" }, s.commit), el("td", { class: "num" }, s.rollback),
        el("td", {}, s.exit_code), el("td", {}, s.exit_message))));
      const tp = await api(`/executions/${id}/throughput`);
      chartBox.replaceChildren(chart(tp.steps));
      const sk = await api(`/executions/${id}/skipped?limit=100`);
      skippedNote.textContent = sk.total === 0 ? "No items were skipped." : `${sk.total} item(s) skipped` + (sk.total > sk.items.length ? `; the first ${sk.items.length} are shown, the download has all.` : ".");
      skipped.replaceChildren(...sk.items.map((s) => {
        const p = s.payload === null ? "" : typeof s.payload === "string" ? s.payload : "hex " + s.payload.hex;
        return el("tr", { class: "skipped-item" }, el("td", {}, s.step), el("td", {}, s.phase), el("td", { class: "num" }, s.position),
          el("td", {}, s.kind), el("td", {}, s.message),
          el("td", { class: "mono", title: p.length > PAYLOAD_PREVIEW ? "preview; download for the whole item" : "" }, p.length > PAYLOAD_PREVIEW ? p.slice(0, PAYLOAD_PREVIEW) + "…" : p));
      }));
      err.replaceChildren();
      line("refreshed " + new Date().toLocaleTimeString());
      return running || e.status === "STOPPING";
    } catch (e) { showError(err, e); return true; }
  };
  // Refreshed while the execution runs; a finished one stays as it is.
  if (await load()) {
    timer = setInterval(async () => {
      if (!(await load()) && timer) { clearInterval(timer); timer = null; }
    }, REFRESH_MS);
  }
}

async function pluginsPage() {
  const body = el("tbody", { id: "plugins" });
  const err = el("div");
  setMain(el("h1", {}, "Plugins"), err,
    el("table", {}, el("thead", {}, el("tr", {}, el("th", {}, "Name"), el("th", {}, "Version"), el("th", {}, "World"),
      el("th", { class: "num" }, "Size"), el("th", {}, "SHA-256"), el("th", {}, "Registered"))), body));
  try {
    const r = await api("/plugins");
    body.replaceChildren(...r.plugins.map((p) => el("tr", { "data-plugin": p.name },
      el("td", {}, p.name), el("td", {}, p.version), el("td", {}, p.world), el("td", { class: "num" }, p.size.toLocaleString()),
      el("td", { class: "mono" }, p.digest), el("td", {}, time(p.registered_at)))));
    if (r.plugins.length === 0) body.replaceChildren(el("tr", {}, el("td", { colspan: 6, class: "muted" }, "No plugins registered: upload one with POST /api/v1/plugins?name=NAME.")));
  } catch (e) { showError(err, e); }
}

// --- routing ---------------------------------------------------------------------------------

async function route() {
  if (timer) { clearInterval(timer); timer = null; }
  const hash = location.hash || "#/";
  const signedIn = !!token();
  $("#nav").hidden = !signedIn;
  $("#logout").hidden = !signedIn;
  if (!signedIn || hash === "#/login") { $("#who").textContent = ""; return loginPage(); }
  try {
    const me = await api("/whoami");
    $("#who").textContent = "tenant " + me.tenant + (me.admin ? " (admin)" : "");
  } catch (e) { return; }
  document.querySelectorAll("[data-nav]").forEach((a) => a.classList.toggle("active", hash.startsWith("#/plugins") === (a.dataset.nav === "plugins")));
  const m = hash.match(/^#\/executions\/(\d+)$/);
  if (m) return executionPage(m[1]);
  if (hash.startsWith("#/plugins")) return pluginsPage();
  return executionsPage();
}

window.addEventListener("hashchange", route);
window.addEventListener("DOMContentLoaded", () => {
  $("#logout").addEventListener("click", () => { sessionStorage.removeItem(TOKEN_KEY); location.hash = "#/login"; route(); });
  route();
});
