// Runs page: filter and sort through /api/runs without reloading (the server-rendered links
// keep working without JavaScript), pick runs with checkboxes, compare them.
import { api, badge, el, num, pct, secs } from "./common.js";

const $ = (id) => document.getElementById(id);
const form = $("filters");
const body = $("runs").tBodies[0];
const LIMIT = 50;
let offset = Number(new URLSearchParams(window.location.search).get("offset") || 0);
let total = 0;

function when(text) {
  return text ? text.replace("T", " ").slice(0, 16) : "—";
}

function row(run) {
  const trial = run.experiment_id !== null
    ? [el("a", { href: `/experiments/${run.experiment_id}` }, `exp ${run.experiment_id}`), ` · trial ${run.trial_number}`] : [];
  return el("tr", { dataset: { runId: String(run.id) } },
    el("td", {}, el("input", { type: "checkbox", className: "pick", value: run.id, "aria-label": `select run ${run.id}` })),
    el("td", { className: "num" }, el("a", { href: `/runs/${run.id}` }, run.id)),
    el("td", {}, el("a", { href: `/runs/${run.id}` }, run.name)),
    el("td", {}, badge(run.status)),
    el("td", {}, run.model),
    el("td", {}, trial),
    el("td", { className: "num", title: run.primary_metric || "" }, pct(run.primary_value)),
    el("td", { className: "num" }, num(run.best_val)),
    el("td", { className: "num" }, run.epochs_completed),
    el("td", { className: "num" }, secs(run.train_time_s)),
    el("td", { className: "num" }, num(run.latency_ms, 2)),
    el("td", { className: "muted" }, when(run.created_at)));
}

function params() {
  const data = new FormData(form);
  const query = new URLSearchParams();
  for (const [key, value] of data) if (value) query.set(key, value);
  return query;
}

async function refresh() {
  const query = params();
  query.set("limit", LIMIT);
  query.set("offset", offset);
  let page;
  try {
    page = await api(`/api/runs?${query}`);
  } catch (error) {
    $("count").textContent = `Could not load runs: ${error.message}`;
    return;
  }
  total = page.total;
  const kept = new Set(picked());
  body.replaceChildren(...page.items.map(row));
  for (const box of body.querySelectorAll(".pick")) box.checked = kept.has(box.value);
  $("no-runs").hidden = page.items.length > 0;
  $("count").textContent = `${total} run${total === 1 ? "" : "s"}`;
  $("prev").hidden = offset === 0;
  $("next").hidden = offset + LIMIT >= total;
  query.delete("limit");
  if (!offset) query.delete("offset");
  window.history.replaceState(null, "", `/runs${query.toString() ? `?${query}` : ""}`);
  markSort();
  updateCompare();
}

function markSort() {
  const sort = $("sort").value || "-id";
  for (const link of document.querySelectorAll("a.sort")) {
    link.classList.toggle("asc", sort === link.dataset.sort);
    link.classList.toggle("desc", sort === `-${link.dataset.sort}`);
  }
}

function picked() {
  return [...body.querySelectorAll(".pick:checked")].map((b) => b.value);
}

function updateCompare() {
  const ids = picked();
  $("compare").disabled = ids.length < 2;
  $("compare").textContent = ids.length >= 2 ? `Compare ${ids.length} runs` : "Compare selected";
}

let typing = null;
form.addEventListener("input", () => {
  clearTimeout(typing);
  typing = setTimeout(() => { offset = 0; refresh(); }, 250);
});
form.addEventListener("submit", (event) => {
  event.preventDefault();
  offset = 0;
  refresh();
});
for (const link of document.querySelectorAll("a.sort")) {
  link.addEventListener("click", (event) => {
    event.preventDefault();
    const key = link.dataset.sort;
    $("sort").value = $("sort").value === key ? `-${key}` : key;
    offset = 0;
    refresh();
  });
}
$("prev").addEventListener("click", (event) => { event.preventDefault(); offset = Math.max(0, offset - LIMIT); refresh(); });
$("next").addEventListener("click", (event) => { event.preventDefault(); offset += LIMIT; refresh(); });
body.addEventListener("change", updateCompare);
$("pick-all").addEventListener("change", (event) => {
  for (const box of body.querySelectorAll(".pick")) box.checked = event.target.checked;
  updateCompare();
});
$("compare").addEventListener("click", () => {
  window.location.assign(`/runs/compare?ids=${picked().join(",")}`);
});
updateCompare();
