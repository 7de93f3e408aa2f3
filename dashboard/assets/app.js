// The live dashboard: one EventSource on the member serving the page; each
// "view" event is a whole cluster view (dashboard.View) rendered in place.
"use strict";

const $ = (id) => document.getElementById(id);

function fmtNum(n) {
  if (n >= 1e6) return (n / 1e6).toFixed(1) + "M";
  if (n >= 1e4) return (n / 1e3).toFixed(1) + "k";
  return String(Math.round(n));
}

function fmtBytes(b) {
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let i = 0;
  while (b >= 1024 && i < units.length - 1) { b /= 1024; i++; }
  return (i ? b.toFixed(1) : b) + " " + units[i];
}

function fmtAgo(ms, now) {
  if (!ms) return "never";
  const s = Math.max(0, Math.round((now - ms) / 1000));
  return s < 2 ? "now" : s + " s ago";
}

function setText(id, text) {
  const el = $(id);
  if (el.textContent !== text) el.textContent = text;
}

function cell(text, cls) {
  const td = document.createElement("td");
  if (cls) td.className = cls;
  td.textContent = text;
  return td;
}

function sparkline(svg, series, maxEl, unit) {
  const w = 600, h = 90, pad = 4;
  let maxV = 0, n = 0;
  for (const s of series) { for (const v of s.values) maxV = Math.max(maxV, v); n = Math.max(n, s.values.length); }
  if (maxV <= 0) maxV = 1;
  const x = (i) => (n <= 1 ? w : (i / (n - 1)) * w);
  const y = (v) => h - pad - (Math.max(0, v) / maxV) * (h - 2 * pad);
  let out = "";
  for (const s of series) {
    const pts = s.values.map((v, i) => x(i).toFixed(1) + "," + y(v).toFixed(1)).join(" ");
    out += '<polyline fill="none" stroke-width="2" vector-effect="non-scaling-stroke" style="stroke:' + s.color + '" points="' + pts + '"/>';
  }
  svg.innerHTML = out;
  maxEl.textContent = "· max " + (maxV < 10 ? maxV.toFixed(2) : fmtNum(maxV)) + unit;
}

function render(v) {
  const c = v.cluster;
  const banner = $("banner");
  banner.className = c.health;
  banner.dataset.health = c.health;
  banner.innerHTML = "";
  banner.append(c.health === "healthy" ? "Cluster healthy" : c.health === "degraded" ? "Cluster degraded" : "Cluster unhealthy");
  const why = document.createElement("small");
  why.textContent = c.reason;
  banner.append(why);

  setText("served-by", "served by " + v.served_by);
  setText("member-count", String(c.members_total));
  setText("members-up", c.members_up + " up, " + (c.members_total - c.members_up) + " down");
  setText("leader", c.leader || "no leader");
  setText("term", "term " + c.term);
  setText("keys", fmtNum(c.keys));
  setText("watchers", fmtNum(c.watchers));
  setText("leases", fmtNum(c.leases));
  const ops = c.reads_per_second + c.writes_per_second;
  setText("ops", fmtNum(ops));
  $("ops").dataset.value = ops.toFixed(1);
  setText("ops-split", fmtNum(c.reads_per_second) + " reads · " + fmtNum(c.writes_per_second) + " writes");
  setText("p99", c.p99_ms < 0 ? "–" : c.p99_ms.toFixed(c.p99_ms < 10 ? 2 : 0) + " ms");
  setText("leader-changes", String(c.leader_changes));
  setText("alarms", c.alarms && c.alarms.length ? c.alarms.join(", ") : "none");

  const h = v.history || [];
  setText("history-span", Math.max(1, Math.round(h.length * v.interval_ms / 60000)) + " min");
  sparkline($("spark-ops"), [
    { color: "var(--series-read)", values: h.map((p) => p.r) },
    { color: "var(--series-write)", values: h.map((p) => p.w) },
  ], $("spark-ops-max"), "/s");
  sparkline($("spark-p99"), [{ color: "var(--series-failed)", values: h.map((p) => Math.max(0, p.p99)) }], $("spark-p99-max"), " ms");

  const body = $("members");
  const rows = [];
  for (const m of v.members) {
    const tr = document.createElement("tr");
    tr.dataset.member = m.name;
    tr.dataset.state = m.up ? "up" : "down";
    if (!m.up) tr.className = "down";
    const name = document.createElement("td");
    const chip = document.createElement("span");
    chip.className = "member m" + (m.index % 8);
    chip.textContent = m.name;
    name.append(chip);
    tr.append(name, cell(m.id, "opt"), cell(m.up ? m.role : "—"));
    const health = document.createElement("td");
    const badge = document.createElement("span");
    badge.className = "badge " + (m.up ? "ok" : "bad");
    badge.textContent = m.up ? "up" : "down";
    health.append(badge);
    if (!m.up && m.error) {
      const e = document.createElement("div");
      e.className = "muted";
      e.textContent = m.error;
      health.append(e);
    }
    tr.append(health, cell(String(m.term), "num"), cell(String(m.applied_index), "num"),
      cell(fmtBytes(m.db_size_bytes), "num opt"), cell(fmtNum(m.reads_per_second + m.writes_per_second), "num opt"),
      cell(fmtAgo(m.last_seen_unix_ms, v.time_unix_ms), "opt"));
    rows.push(tr);
  }
  body.replaceChildren(...rows);
  setText("updated", "Last update " + new Date(v.time_unix_ms).toLocaleTimeString() + ".");
}

function connect() {
  const es = new EventSource("/dashboard/events");
  es.addEventListener("view", (e) => render(JSON.parse(e.data)));
  es.onerror = () => {
    const banner = $("banner");
    banner.className = "lost";
    banner.dataset.health = "lost";
    banner.textContent = "Lost the connection to the member serving this page — retrying…";
  };
}

connect();
