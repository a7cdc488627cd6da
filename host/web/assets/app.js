// The status page: polls the gateway's read-only API (status and traffic every second, hosts
// and connections every two) and draws it. No libraries, nothing loaded from elsewhere.
"use strict";
const $ = (id) => document.getElementById(id);
let token = sessionStorage.getItem("ipmasq-token") || "";
let hostSort = "bytes";
let lastSample = 0;
const samples = [];
let tick = 0;

async function api(path) {
  const res = await fetch(path, { headers: token ? { authorization: `Bearer ${token}` } : {}, cache: "no-store" });
  if (res.status === 401) { showLogin(token ? "wrong token" : ""); throw new Error("token needed"); }
  if (!res.ok) throw new Error(`${path}: ${res.status}`);
  return res.json();
}

function showLogin(why) {
  $("login").hidden = false;
  $("main").hidden = true;
  $("login-error").textContent = why;
}

$("login").addEventListener("submit", (ev) => {
  ev.preventDefault();
  token = $("token").value.trim();
  sessionStorage.setItem("ipmasq-token", token);
  $("login").hidden = true;
  $("main").hidden = false;
  refresh();
});

const bits = (n) => {
  const units = ["bit/s", "kbit/s", "Mbit/s", "Gbit/s"];
  let i = 0;
  while (n >= 1000 && i < units.length - 1) { n /= 1000; i++; }
  return `${n.toFixed(n < 10 && i ? 1 : 0)} ${units[i]}`;
};
const bytes = (n) => {
  const units = ["B", "kB", "MB", "GB", "TB"];
  let i = 0;
  while (n >= 1000 && i < units.length - 1) { n /= 1000; i++; }
  return `${n.toFixed(i ? 1 : 0)} ${units[i]}`;
};
const duration = (s) => `${Math.floor(s / 86400) ? `${Math.floor(s / 86400)}d ` : ""}${String(Math.floor(s / 3600) % 24).padStart(2, "0")}:${String(Math.floor(s / 60) % 60).padStart(2, "0")}:${String(s % 60).padStart(2, "0")}`;

// Rows of cells into a table body; text only (never HTML from the gateway).
function fill(body, rows) {
  body.replaceChildren(...rows.map((cells) => {
    const tr = document.createElement("tr");
    for (const c of cells) { const td = document.createElement("td"); td.textContent = c; tr.append(td); }
    return tr;
  }));
}

// The last ten minutes; while there is less to show, at least the last minute, filling up.
function drawChart() {
  const w = 600, h = 160, now = Date.now();
  const span = Math.min(600e3, Math.max(60e3, samples.length ? now - samples[0].t : 0));
  const max = Math.max(1000, ...samples.map((s) => Math.max(s.bitsOut, s.bitsIn)));
  const points = (key) => samples.map((s) => `${(w - ((now - s.t) / span) * w).toFixed(1)},${(h - (s[key] / max) * (h - 4)).toFixed(1)}`).join(" ");
  $("line-out").setAttribute("points", points("bitsOut"));
  $("line-in").setAttribute("points", points("bitsIn"));
  const last = samples[samples.length - 1];
  $("rate-out").textContent = last ? bits(last.bitsOut) : "";
  $("rate-in").textContent = last ? bits(last.bitsIn) : "";
  $("chart-max").textContent = `(last ${Math.round(span / 1000)} s; top of the chart ${bits(max)})`;
}

async function refreshStatus() {
  const [s, traffic] = await Promise.all([api("/api/status"), api(`/api/traffic?since=${lastSample}`)]);
  $("wan").textContent = s.waiting ? `WAN waiting: ${s.waiting}` : `WAN ${s.wan} ${s.publicAddress}`;
  $("uptime").textContent = `up ${duration(s.uptimeSeconds)}, pid ${s.pid}, ${s.core} core`;
  $("conns-count").textContent = `${s.connections} of ${s.maxConns} (${((100 * s.connections) / s.maxConns).toFixed(1)}%)`;
  $("fill").value = s.connections / s.maxConns;
  fill($("workers"), s.workers.map((w) => [`#${w.id}`, `${w.packetsOut + w.packetsIn} pkts`, `${w.batches} batches`]));
  const drops = Object.entries(s.drops);
  fill($("drops"), drops.length ? drops.map(([r, n]) => [r, String(n)]) : [["none", ""]]);
  for (const t of traffic) samples.push(t);
  if (traffic.length) lastSample = traffic[traffic.length - 1].t;
  while (samples.length && samples[0].t < Date.now() - 600 * 1000) samples.shift();
  drawChart();
}

async function refreshHosts() {
  const r = await api(`/api/hosts?sort=${hostSort}`);
  $("hosts-note").textContent = `${r.total} seen, sorted by ${r.sort}`;
  fill($("hosts").tBodies[0], r.hosts.map((h) => [h.host, bits(8 * h.rateOut), bits(8 * h.rateIn), bytes(h.bytesOut), bytes(h.bytesIn), String(h.flows), String(h.flowsTotal)]));
  for (const th of $("hosts").tHead.rows[0].cells) th.classList.toggle("sorted", th.dataset.sort === hostSort);
}

async function refreshConns() {
  const r = await api(`/api/conns?filter=${encodeURIComponent($("filter").value)}`);
  $("conns-note").textContent = `${r.rows.length}${r.more ? "+" : ""} shown of ${r.live}`;
  fill($("conns").tBodies[0], r.rows.map((c) => [c.proto, c.state, c.lan, c.remote, c.public, `${c.expiresIn}s`, bytes(c.bytesOut), bytes(c.bytesIn)]));
}

for (const th of $("hosts").tHead.rows[0].cells) {
  if (th.dataset.sort) th.addEventListener("click", () => { hostSort = th.dataset.sort; refreshHosts().catch(() => {}); });
}
$("filter").addEventListener("input", () => refreshConns().catch(() => {}));

async function refresh() {
  if (!$("login").hidden) return;
  try {
    await refreshStatus();
    if (tick++ % 2 === 0) await Promise.all([refreshHosts(), refreshConns()]);
  } catch (e) {
    if (e.message !== "token needed") $("uptime").textContent = `(no answer: ${e.message})`;
  }
}

refresh();
setInterval(refresh, 1000);
