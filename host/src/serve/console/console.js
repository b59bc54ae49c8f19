// The plughost console: polls /_plughost/api/state every second and the selected
// plugin's log lines, and sends test requests and events. Everything shown is set as
// text (never as markup): log lines and bodies come from plugins.
"use strict";

const POLL_MS = 1000;
const RATE_WINDOW_MS = 10000;
let selected = null;
const history = []; // [{at, totals: {plugin: n}}], for rates over RATE_WINDOW_MS

const $ = (id) => document.getElementById(id);

function el(tag, props = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(props)) {
    if (key === "class") node.className = value;
    else if (key === "dataset") Object.assign(node.dataset, value);
    else node[key] = value;
  }
  for (const child of children) node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  return node;
}

const ms = (v) => (v == null ? "—" : v < 10 ? `${v.toFixed(2)} ms` : `${v.toFixed(0)} ms`);
const time = (at) => new Date(at).toLocaleTimeString();

function rates(plugins) {
  const now = Date.now();
  const totals = {};
  for (const p of plugins) totals[p.id] = p.stats.requests + p.stats.events + p.stats.tasks;
  history.push({ at: now, totals });
  while (history.length > 1 && now - history[0].at > RATE_WINDOW_MS) history.shift();
  const first = history[0];
  const seconds = (now - first.at) / 1000;
  const out = {};
  for (const p of plugins) {
    const before = first.totals[p.id] ?? totals[p.id];
    out[p.id] = seconds > 0 ? (totals[p.id] - before) / seconds : 0;
  }
  return out;
}

function renderPlugins(plugins) {
  const perSecond = rates(plugins);
  const body = $("plugins").tBodies[0];
  body.replaceChildren(
    ...plugins.map((p) => {
      const serves = [...p.routes, ...p.triggers.map((t) => `event: ${t}`)];
      const row = el(
        "tr",
        { dataset: { plugin: p.id }, class: p.id === selected ? "selected" : "" },
        el("td", { class: "mono" }, p.id),
        el("td", { class: "small", title: serves.join("\n") }, serves.slice(0, 2).join(", ") + (serves.length > 2 ? ` +${serves.length - 2}` : "")),
        el("td", { class: "num rate" }, perSecond[p.id].toFixed(1)),
        el("td", { class: "num requests" }, p.stats.requests),
        el("td", { class: "num events" }, p.stats.events),
        el("td", { class: `num errors ${p.stats.errors > 0 ? "some" : ""}` }, p.stats.errors),
        el("td", { class: "num p50" }, ms(p.stats.p50_ms)),
        el("td", { class: "num p99" }, ms(p.stats.p99_ms)),
        el("td", { class: "digest", title: `sha256 ${p.digest}\n${p.source}` }, p.digest.slice(0, 12)),
      );
      row.addEventListener("click", () => select(p.id));
      return row;
    }),
  );
}

function list(items) {
  return items.length ? el("ul", {}, ...items.map((i) => el("li", { class: "mono" }, i))) : el("span", { class: "muted" }, "none");
}

function renderDetail(plugins) {
  const plugin = plugins.find((p) => p.id === selected);
  $("detail-id").textContent = plugin ? plugin.id : "—";
  const facts = $("detail-facts");
  if (!plugin) return facts.replaceChildren();
  const grants = Object.entries(plugin.grants).flatMap(([cap, labels]) =>
    Object.entries(labels).map(([label, access]) => `${cap}: ${label} (${access})`),
  );
  const l = plugin.limits;
  const limits = [
    `timeout ${l.timeout_ms} ms`,
    `memory ${(l.max_memory / 1048576).toFixed(0)} MiB`,
    `response ${(l.max_response / 1048576).toFixed(1)} MiB`,
    l.max_concurrency ? `concurrency ${l.max_concurrency}` : "concurrency: host's",
  ];
  const pairs = [
    ["routes", list(plugin.routes)],
    ["events", list(plugin.triggers)],
    ["grants", list(grants)],
    ["outbound", list(plugin.outbound)],
    ["limits", list(limits)],
    ["component", el("span", { class: "mono small" }, `${plugin.source}\nsha256 ${plugin.digest}`)],
    ["host calls", String(plugin.stats.host_calls)],
  ];
  facts.replaceChildren(...pairs.flatMap(([k, v]) => [el("dt", {}, k), el("dd", {}, v)]));
}

function renderReloads(reloads) {
  $("reloads").tBodies[0].replaceChildren(
    ...reloads
      .slice()
      .reverse()
      .map((r) =>
        el(
          "tr",
          {},
          el("td", {}, time(r.at_ms)),
          el("td", { class: `outcome-${r.outcome}` }, r.outcome),
          el("td", { class: "num" }, r.generation),
          el("td", { class: "mono small" }, r.detail),
        ),
      ),
  );
}

async function refreshLogs() {
  if (!selected) return;
  const response = await fetch(`/_plughost/api/logs/${encodeURIComponent(selected)}`);
  if (!response.ok) return;
  const { lines } = await response.json();
  const logs = $("logs");
  if (!lines.length) return logs.replaceChildren(el("li", { class: "muted" }, "No lines yet."));
  logs.replaceChildren(
    ...lines
      .slice()
      .reverse()
      .map((line) =>
        el(
          "li",
          { dataset: { requestId: line.request_id ?? "" } },
          el("span", { class: "muted" }, `${time(line.at_ms)} `),
          el("span", { class: `level ${line.level}` }, line.level),
          line.request_id ? el("span", { class: "rid" }, `${line.request_id} `) : "",
          `${line.message} `,
          el("span", { class: "muted" }, line.fields),
        ),
      ),
  );
}

async function refresh() {
  try {
    const response = await fetch("/_plughost/api/state");
    if (!response.ok) throw new Error(`HTTP ${response.status}`);
    const state = await response.json();
    $("manifest").textContent = state.manifest;
    $("generation").textContent = state.generation;
    $("loaded-at").textContent = state.loaded_at;
    if (!selected && state.plugins.length) selected = state.plugins[0].id;
    renderPlugins(state.plugins);
    renderDetail(state.plugins);
    renderReloads(state.reloads);
    await refreshLogs();
    $("live").textContent = "live";
    $("live").className = "live ok";
  } catch (error) {
    $("live").textContent = `unreachable (${error.message})`;
    $("live").className = "live down";
  }
}

function select(id) {
  selected = id;
  refresh();
}

function showKind() {
  const request = $("try-kind").value === "request";
  for (const node of document.querySelectorAll(".for-request")) node.hidden = !request;
  $("try-body-label").textContent = request ? "body" : "event (JSON, as `plughost trigger` takes it)";
  $("try-body").placeholder = request
    ? '{"name": "ada"}'
    : '{"bus": "app", "source": "shop", "detail-type": "OrderPlaced", "detail": {"total": 120}}';
}

async function send(event) {
  event.preventDefault();
  const request = $("try-kind").value === "request";
  const options = request
    ? { method: $("try-method").value, headers: { "content-type": $("try-content-type").value } }
    : { method: "POST", headers: { "content-type": "application/json" } };
  if (!request || !["GET", "DELETE"].includes(options.method)) options.body = $("try-body").value;
  const url = request ? $("try-path").value : "/_plughost/events";
  $("try-result").hidden = false;
  try {
    const response = await fetch(url, options);
    const text = await response.text();
    $("try-status").textContent = `${response.status} ${response.statusText}`;
    $("try-status").className = response.ok ? "status-ok" : "status-bad";
    $("try-request-id").textContent = response.headers.get("x-request-id") ?? "";
    let shown = text;
    try {
      shown = JSON.stringify(JSON.parse(text), null, 2);
    } catch (_) {
      // not JSON: shown as it came
    }
    $("try-response").textContent = shown;
  } catch (error) {
    $("try-status").textContent = `failed: ${error.message}`;
    $("try-status").className = "status-bad";
  }
  refresh();
}

document.addEventListener("DOMContentLoaded", () => {
  $("try-form").addEventListener("submit", send);
  $("try-kind").addEventListener("change", showKind);
  showKind();
  refresh();
  setInterval(refresh, POLL_MS);
});
