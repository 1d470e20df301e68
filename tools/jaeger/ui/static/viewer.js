// A small trace viewer on Jaeger's HTTP API (/api/services, /api/traces):
// the Jaeger module built by the go command carries no UI of its own.
"use strict";

const main = document.getElementById("main");

function el(tag, attrs, ...kids) {
  const e = document.createElement(tag);
  Object.entries(attrs || {}).forEach(([k, v]) => { if (k === "style") Object.assign(e.style, v); else e.setAttribute(k, v); });
  kids.forEach((k) => e.append(k));
  return e;
}

async function api(path) {
  const res = await fetch(path);
  if (!res.ok) throw new Error(path + ": " + res.status);
  return (await res.json()).data;
}

function ms(us) { return (us / 1000).toFixed(us < 10000 ? 2 : 0) + " ms"; }

// The spans of one trace as a tree in time order, each with its service,
// operation, start from the trace's start, duration and a bar.
async function showTrace(id) {
  const [trace] = await api("api/traces/" + encodeURIComponent(id));
  const spans = trace.spans;
  const start = Math.min(...spans.map((s) => s.startTime));
  const end = Math.max(...spans.map((s) => s.startTime + s.duration));
  const byID = new Map(spans.map((s) => [s.spanID, s]));
  const kids = new Map();
  const roots = [];
  for (const s of spans) {
    const parent = (s.references || []).find((r) => r.refType === "CHILD_OF" && byID.has(r.spanID));
    if (parent) { if (!kids.has(parent.spanID)) kids.set(parent.spanID, []); kids.get(parent.spanID).push(s); } else roots.push(s);
  }
  const rows = [];
  const walk = (s, depth) => {
    rows.push([s, depth]);
    (kids.get(s.spanID) || []).sort((a, b) => a.startTime - b.startTime).forEach((k) => walk(k, depth + 1));
  };
  roots.sort((a, b) => a.startTime - b.startTime).forEach((r) => walk(r, 0));
  const table = el("table", {}, el("tr", {}, el("th", {}, "service"), el("th", {}, "operation"), el("th", {}, "start"), el("th", {}, "duration"), el("th", {}, "")));
  const width = Math.max(end - start, 1);
  for (const [s, depth] of rows) {
    const service = trace.processes[s.processID].serviceName;
    const failed = (s.tags || []).some((t) => (t.key === "error" && t.value) || (t.key === "otel.status_code" && t.value === "ERROR"));
    const bar = el("div", { class: "bar" }, el("span", { style: { left: (100 * (s.startTime - start) / width) + "%", width: (100 * s.duration / width) + "%" } }));
    table.append(el("tr", failed ? { class: "error" } : {},
      el("td", {}, service),
      el("td", { class: "op", style: { paddingLeft: (0.5 + 1.5 * depth) + "em" } }, s.operationName),
      el("td", {}, ms(s.startTime - start)), el("td", {}, ms(s.duration)), el("td", {}, bar)));
  }
  const services = new Set(Object.values(trace.processes).map((p) => p.serviceName));
  main.replaceChildren(el("h1", {}, "Trace " + id),
    el("p", { class: "muted" }, spans.length + " spans, " + services.size + " services (" + [...services].join(", ") + "), " + ms(end - start)),
    table);
}

async function showHome() {
  const services = await api("api/services");
  const list = el("ul", {});
  for (const svc of (services || []).sort()) {
    const traces = await api("api/traces?limit=5&service=" + encodeURIComponent(svc));
    const item = el("li", {}, svc + ": ");
    (traces || []).forEach((t) => item.append(el("a", { href: "trace/" + t.traceID }, t.traceID.slice(0, 12)), " "));
    list.append(item);
  }
  main.replaceChildren(el("h1", {}, "Services"), services && services.length ? list : el("p", { class: "muted" }, "No traces yet."));
}

document.getElementById("find").addEventListener("submit", (e) => {
  e.preventDefault();
  const id = new FormData(e.target).get("id").trim();
  if (id) location.href = "trace/" + id;
});

const m = location.pathname.match(/\/trace\/([0-9a-fA-F]+)/);
(m ? showTrace(m[1]) : showHome()).catch((err) => main.replaceChildren(el("p", { class: "error" }, String(err))));
