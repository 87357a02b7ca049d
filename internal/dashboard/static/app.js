// Herald dashboard: reads /dashboard/events (one "stats" event a second)
// and, in full mode, drives a small console against the hub. Everything
// received is inserted as text, never as HTML.
"use strict";

const $ = (id) => document.getElementById(id);
const past = []; // recent events, oldest first, at most 61
const WINDOW = 60;
let received = 0;

function fmt(n) {
  if (n === undefined || n === null || n < 0) return "–";
  if (n >= 1e9) return (n / 1e9).toFixed(1) + "G";
  if (n >= 1e6) return (n / 1e6).toFixed(1) + "M";
  if (n >= 1e4) return (n / 1e3).toFixed(1) + "k";
  return Math.round(n).toLocaleString("en");
}
function fmtRate(n) {
  if (!isFinite(n)) return "–";
  return n < 10 ? n.toFixed(1) : fmt(n);
}
function fmtBytes(n) {
  if (!isFinite(n)) return "–";
  const units = ["B", "KiB", "MiB", "GiB"];
  let i = 0;
  while (n >= 1024 && i < units.length - 1) { n /= 1024; i++; }
  return (i === 0 ? Math.round(n) : n.toFixed(1)) + " " + units[i];
}
function fmtDuration(s) {
  s = Math.floor(s);
  const d = Math.floor(s / 86400), h = Math.floor(s % 86400 / 3600), m = Math.floor(s % 3600 / 60);
  if (d) return d + "d " + h + "h";
  if (h) return h + "h " + m + "m";
  if (m) return m + "m " + (s % 60) + "s";
  return s + "s";
}
function clock(ms) { return new Date(ms).toLocaleTimeString("en-GB"); }
function setText(id, text) { const el = $(id); if (el.textContent !== text) el.textContent = text; }
function sum(counts) { return (counts || []).reduce((a, c) => a + c.count, 0); }
function countOf(counts, name) { const c = (counts || []).find((c) => c.name === name); return c ? c.count : 0; }

// rate returns the per-second rate of f over the last two events.
function rate(f) {
  if (past.length < 2) return NaN;
  const a = past[past.length - 2], b = past[past.length - 1];
  const dt = (b.time - a.time) / 1000;
  return dt > 0 ? Math.max(0, (f(b) - f(a)) / dt) : NaN;
}
// series returns per-second rates of f over the window, for a chart.
function series(f) {
  const out = [];
  for (let i = 1; i < past.length; i++) {
    const dt = (past[i].time - past[i - 1].time) / 1000;
    out.push(dt > 0 ? Math.max(0, (f(past[i]) - f(past[i - 1])) / dt) : 0);
  }
  return out;
}

function draw(canvas, lines) {
  const dpr = window.devicePixelRatio || 1;
  const w = canvas.clientWidth, h = canvas.clientHeight;
  if (canvas.width !== w * dpr) { canvas.width = w * dpr; canvas.height = h * dpr; }
  const ctx = canvas.getContext("2d");
  ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
  ctx.clearRect(0, 0, w, h);
  ctx.strokeStyle = "#263140";
  ctx.lineWidth = 1;
  ctx.beginPath(); ctx.moveTo(0, h - 0.5); ctx.lineTo(w, h - 0.5); ctx.stroke();
  let top = 1;
  for (const l of lines) for (const v of l.data) top = Math.max(top, v);
  for (const l of lines) {
    if (l.data.length === 0) continue;
    ctx.strokeStyle = l.color;
    ctx.lineWidth = 1.5;
    ctx.beginPath();
    l.data.forEach((v, i) => {
      const x = w - (l.data.length - 1 - i) * (w / WINDOW);
      const y = h - 2 - (v / top) * (h - 6);
      if (i === 0) ctx.moveTo(x, y); else ctx.lineTo(x, y);
    });
    ctx.stroke();
  }
}

function render(ev) {
  const s = ev.stats;
  document.body.dataset.mode = ev.mode;
  setText("node", "node " + (s.node || "–"));
  setText("version", ev.version || "");
  setText("uptime", "up " + fmtDuration(ev.uptime));
  setText("subscribers", fmt(s.subscribers));
  setText("subscriptions", fmt(s.subscriptions) + " subscriptions");
  setText("connections", fmt(ev.connections));
  setText("topics", fmt(ev.topics.active));
  setText("queued", fmt(s.queued));

  const published = (e) => e.stats.published;
  const delivered = (e) => e.stats.delivered;
  const bytes = (e) => e.stats.bytes;
  const connects = (e) => e.stats.connects;
  const disconnects = (e) => sum(e.stats.disconnects);
  setText("rate-published", fmtRate(rate(published)));
  setText("rate-delivered", fmtRate(rate(delivered)));
  setText("rate-bytes", fmtBytes(rate(bytes)));
  setText("rate-connects", fmtRate(rate(connects)));
  setText("rate-disconnects", fmtRate(rate(disconnects)));
  draw($("chart-published"), [{ data: series(published), color: "#4fb3ff" }]);
  draw($("chart-delivered"), [{ data: series(delivered), color: "#3ecf8e" }]);
  draw($("chart-bytes"), [{ data: series(bytes), color: "#b48cff" }]);
  draw($("chart-connects"), [{ data: series(connects), color: "#3ecf8e" }, { data: series(disconnects), color: "#ff6b6b" }]);

  // Disconnect reasons: totals, and the change over the last minute.
  const old = past[0];
  const tbody = $("reasons");
  const rows = [];
  for (const c of s.disconnects) {
    const recent = c.count - countOf(old.stats.disconnects, c.name);
    if (c.count === 0) continue;
    const tr = document.createElement("tr");
    tr.dataset.reason = c.name;
    if (recent > 0 && ["slow", "write_timeout", "write_error"].includes(c.name)) tr.className = "hot";
    for (const [text, cls] of [[c.name, ""], [fmt(recent), "num"], [fmt(c.count), "num"]]) {
      const td = document.createElement("td");
      td.textContent = text;
      if (cls) td.className = cls;
      tr.appendChild(td);
    }
    rows.push(tr);
  }
  if (rows.length === 0) {
    const tr = document.createElement("tr");
    const td = document.createElement("td");
    td.colSpan = 3; td.className = "meta"; td.textContent = "none yet";
    tr.appendChild(td); rows.push(tr);
  }
  tbody.replaceChildren(...rows);

  $("recent").replaceChildren(...ev.recent.map((d) => {
    const li = document.createElement("li");
    const t = document.createElement("span");
    t.className = "t"; t.textContent = clock(d.time);
    const r = document.createElement("span");
    r.className = "reason-" + d.reason; r.textContent = d.reason;
    li.append(t, r);
    return li;
  }));
  if (ev.recent.length === 0) {
    const li = document.createElement("li");
    li.className = "meta"; li.textContent = "none yet";
    $("recent").replaceChildren(li);
  }

  setText("published", fmt(s.published));
  setText("publish-failed", fmt(s.publishFailed));
  setText("transport-errors", fmt(s.transportErrors));
  setText("replays", fmt(s.replays) + " (" + fmt(s.replayed) + ")");
  setText("rejected", (s.rejected || []).filter((c) => c.count > 0).map((c) => c.name + " " + fmt(c.count)).join(", ") || "0");
  setText("runtime", fmt(ev.goroutines) + " · " + fmtBytes(ev.heapBytes));

  if (ev.mode === "full") {
    for (const el of document.querySelectorAll(".full-only")) el.hidden = false;
    $("top-topics").replaceChildren(...ev.topics.top.map((t) => {
      const tr = document.createElement("tr");
      const a = document.createElement("td"); a.className = "topic"; a.textContent = t.topic;
      const b = document.createElement("td"); b.className = "num"; b.textContent = fmt(t.count);
      tr.append(a, b);
      return tr;
    }));
  }
  hubPath = ev.hubPath || hubPath;
}

let hubPath = "/.well-known/mercure";

function connectStats() {
  const es = new EventSource("/dashboard/events");
  es.addEventListener("stats", (e) => {
    const ev = JSON.parse(e.data);
    past.push(ev);
    while (past.length > WINDOW + 1) past.shift();
    received++;
    document.body.dataset.updates = String(received);
    $("status").dataset.state = "live";
    $("status").textContent = "live";
    render(ev);
  });
  es.onerror = () => {
    $("status").dataset.state = "lost";
    $("status").textContent = "reconnecting…";
  };
}

// ---- console (full mode) ----

let subscription = null; // AbortController of the open stream

function authHeaders() {
  const token = $("token").value.trim();
  return token ? { Authorization: "Bearer " + token } : {};
}

function showReceived(ev) {
  const li = document.createElement("li");
  const t = document.createElement("span");
  t.className = "t"; t.textContent = clock(Date.now());
  const meta = document.createElement("span");
  meta.textContent = (ev.type !== "message" ? ev.type + " " : "") + (ev.id ? "id " + ev.id : "");
  const pre = document.createElement("pre");
  pre.textContent = ev.data;
  li.append(t, meta, pre);
  $("received").prepend(li);
  while ($("received").children.length > 100) $("received").lastChild.remove();
}

// readEvents parses an event stream from a fetch body (the parts of the
// format a hub sends: id, event, data, comments).
async function readEvents(body, onEvent) {
  const reader = body.pipeThrough(new TextDecoderStream()).getReader();
  let buf = "", ev = { id: "", type: "message", data: [] };
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    buf += value;
    let i;
    while ((i = buf.search(/\r\n|\r|\n/)) >= 0) {
      const line = buf.slice(0, i);
      buf = buf.slice(buf[i] === "\r" && buf[i + 1] === "\n" ? i + 2 : i + 1);
      if (line === "") {
        if (ev.data.length) onEvent({ id: ev.id, type: ev.type, data: ev.data.join("\n") });
        ev = { id: ev.id, type: "message", data: [] };
        continue;
      }
      if (line[0] === ":") continue;
      const c = line.indexOf(":");
      const field = c < 0 ? line : line.slice(0, c);
      let v = c < 0 ? "" : line.slice(c + 1);
      if (v[0] === " ") v = v.slice(1);
      if (field === "data") ev.data.push(v);
      else if (field === "event") ev.type = v;
      else if (field === "id") ev.id = v;
    }
  }
}

async function subscribe() {
  stop();
  const topic = $("topic").value.trim();
  if (!topic) return;
  const ctl = new AbortController();
  subscription = ctl;
  $("subscribe").disabled = true;
  $("unsubscribe").disabled = false;
  setText("sub-status", "connecting…");
  try {
    const resp = await fetch(hubPath + "?topic=" + encodeURIComponent(topic), {
      headers: { Accept: "text/event-stream", ...authHeaders() },
      signal: ctl.signal,
      cache: "no-store",
    });
    if (!resp.ok) {
      const text = (await resp.text()).trim();
      setText("sub-status", "refused: " + resp.status + " " + text);
      $("sub-status").className = "meta err";
      return;
    }
    setText("sub-status", "subscribed to " + topic);
    $("sub-status").className = "meta ok";
    document.body.dataset.subscribed = "true";
    await readEvents(resp.body, showReceived);
    setText("sub-status", "the stream ended");
  } catch (e) {
    if (e.name !== "AbortError") {
      setText("sub-status", "error: " + e.message);
      $("sub-status").className = "meta err";
    }
  } finally {
    if (subscription === ctl) {
      subscription = null;
      $("subscribe").disabled = false;
      $("unsubscribe").disabled = true;
      document.body.dataset.subscribed = "false";
    }
  }
}

function stop() {
  if (subscription) {
    subscription.abort();
    subscription = null;
    setText("sub-status", "not subscribed");
    $("sub-status").className = "meta";
  }
}

async function publish() {
  const form = new URLSearchParams();
  form.set("topic", $("topic").value.trim());
  form.set("data", $("data").value);
  if ($("private").checked) form.set("private", "on");
  try {
    const resp = await fetch(hubPath, { method: "POST", body: form, headers: authHeaders(), cache: "no-store" });
    const text = (await resp.text()).trim();
    $("pub-status").className = resp.ok ? "meta ok" : "meta err";
    setText("pub-status", resp.ok ? "published " + text : "refused: " + resp.status + " " + text);
  } catch (e) {
    $("pub-status").className = "meta err";
    setText("pub-status", "error: " + e.message);
  }
}

$("subscribe").addEventListener("click", subscribe);
$("unsubscribe").addEventListener("click", stop);
$("publish").addEventListener("click", publish);
connectStats();
