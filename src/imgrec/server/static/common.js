// Shared helpers for the imgrec pages: DOM building (text only, never HTML), formatting,
// JSON fetches and Chart.js defaults. Data from the server is always set with textContent.

export function pageData() {
  const node = document.getElementById("page-data");
  return node ? JSON.parse(node.textContent) : {};
}

// el("td", {className: "num"}, "1.0") -> <td class="num">1.0</td>; children are text or nodes.
export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value === null || value === undefined || value === false) continue;
    if (key === "className") node.className = value;
    else if (key === "dataset") Object.assign(node.dataset, value);
    else if (key === "style") node.style.cssText = value;
    else node.setAttribute(key, value === true ? "" : String(value));
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

export function badge(status) {
  return el("span", { className: `badge ${status}` }, status);
}

export function num(value, digits = 4) {
  if (value === null || value === undefined || value === "") return "—";
  if (typeof value === "number") {
    if (Number.isInteger(value)) return String(value);
    return String(Number(value.toPrecision(digits)));
  }
  if (typeof value === "object") return JSON.stringify(value);
  return String(value);
}

export function pct(value) {
  return value === null || value === undefined ? "—" : `${(value * 100).toFixed(1)}%`;
}

export function secs(value) {
  if (value === null || value === undefined || !Number.isFinite(value)) return "—";
  const s = Math.round(value);
  if (s < 60) return `${value < 10 ? value.toFixed(1) : s}s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m}m ${String(s % 60).padStart(2, "0")}s`;
  return `${Math.floor(m / 60)}h ${String(m % 60).padStart(2, "0")}m`;
}

export function paramsText(params) {
  return Object.keys(params || {})
    .sort()
    .map((k) => `${k}=${num(params[k])}`)
    .join(", ");
}

// The message of an error answer: {"detail": "..."} or {"detail": {"message": ...}}.
export function errorText(body, status) {
  const detail = body && body.detail;
  if (typeof detail === "string") return detail;
  if (detail && typeof detail.message === "string") return detail.message;
  if (Array.isArray(detail)) return detail.map((d) => `${(d.loc || []).join(".")}: ${d.msg}`).join("; ");
  return `the server answered ${status}`;
}

export class ApiError extends Error {
  constructor(status, body) {
    super(errorText(body, status));
    this.status = status;
    this.body = body;
  }
}

export async function api(path, options = {}) {
  const init = { credentials: "same-origin", ...options };
  if (init.json !== undefined) {
    init.body = JSON.stringify(init.json);
    init.headers = { "Content-Type": "application/json", ...(init.headers || {}) };
    delete init.json;
  }
  const response = await fetch(path, init);
  const text = await response.text();
  let body = null;
  try {
    body = text ? JSON.parse(text) : null;
  } catch {
    body = { detail: text.slice(0, 300) };
  }
  if (!response.ok) throw new ApiError(response.status, body);
  return body;
}

const PALETTE = [
  "#3b5bdb", "#e8590c", "#2b8a3e", "#c2255c", "#7048e8", "#0c8599",
  "#f08c00", "#5c940d", "#862e9c", "#1971c2", "#d6336c", "#495057",
];

export function colour(i) {
  return PALETTE[((i % PALETTE.length) + PALETTE.length) % PALETTE.length];
}

// Chart.js options for a line chart with numbered axes and titles.
export function lineOptions({ x, y, yMin, yMax, legend = true }) {
  return {
    responsive: true,
    maintainAspectRatio: false,
    animation: false,
    parsing: false,
    interaction: { mode: "nearest", intersect: false },
    plugins: {
      legend: { display: legend, position: "bottom", labels: { boxWidth: 12 } },
      tooltip: { callbacks: { label: (c) => `${c.dataset.label}: ${num(c.parsed.y)}` } },
    },
    scales: {
      x: { type: "linear", title: { display: true, text: x }, ticks: { precision: 0 } },
      y: { title: { display: true, text: y }, min: yMin, max: yMax },
    },
  };
}

export function chartsAvailable() {
  return typeof window.Chart === "function";
}
