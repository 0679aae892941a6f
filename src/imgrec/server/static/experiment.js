// Live experiment page: one WebSocket (/ws/experiments/{id}?after=cursor) feeds the curves, the
// trial table, the progress bar and the best run. It reconnects with backoff from the last cursor.
// The two curves are the task's per-epoch metrics the server chose (data.curves): a score
// (val_accuracy, val_map) and a loss (val_loss, train_loss).
import {
  api, badge, chartsAvailable, colour, el, lineOptions, num, paramsText, pct, secs, pageData,
} from "./common.js";

const data = pageData();
const expId = data.id;
let cursor = 0;
let status = data.status;
let bestRunId = data.best_run_id;
let retry = 0;
const runs = new Map(); // run id -> RunOut
const epochs = new Map(); // run id -> Map(epoch -> EpochOut)
const FINISHED = new Set(["completed", "pruned", "failed", "cancelled", "interrupted"]);

const $ = (id) => document.getElementById(id);
const curves = data.curves || { score: { name: "val_accuracy", label: "Val accuracy" }, loss: null };
const charts = {};
if (chartsAvailable()) {
  const Chart = window.Chart;
  if (curves.score && $("chart-acc")) charts.acc = new Chart($("chart-acc"), { type: "line",
    data: { datasets: [] }, options: lineOptions({ x: "epoch", y: curves.score.label, yMin: 0, yMax: 1 }) });
  if (curves.loss && $("chart-loss")) charts.loss = new Chart($("chart-loss"), { type: "line",
    data: { datasets: [] }, options: lineOptions({ x: "epoch", y: curves.loss.label }) });
  charts.history = new Chart($("chart-history"), { type: "line", data: { datasets: [] },
    options: lineOptions({ x: "trial", y: data.metric }) });
  charts.importance = new Chart($("chart-importance"), {
    type: "bar", data: { labels: [], datasets: [] },
    options: { indexAxis: "y", responsive: true, maintainAspectRatio: false, animation: false,
      plugins: { legend: { display: false } },
      scales: { x: { beginAtZero: true, title: { display: true, text: "importance (fANOVA share)" } },
        y: { title: { display: true, text: "parameter" } } } },
  });
}

function trialLabel(run) {
  return run && run.trial_number !== null && run.trial_number !== undefined
    ? `trial ${run.trial_number}` : `run ${run ? run.id : "?"}`;
}

function seriesFor(chart, runId) {
  let set = chart.data.datasets.find((d) => d.runId === runId);
  if (!set) {
    const run = runs.get(runId);
    const i = run && run.trial_number !== null ? run.trial_number : chart.data.datasets.length;
    set = { runId, label: trialLabel(run), data: [], borderColor: colour(i), backgroundColor: colour(i),
      borderWidth: 2, pointRadius: 3, tension: 0.15 };
    chart.data.datasets.push(set);
  }
  return set;
}

// One series per trial of the metric ``key``; the canvas counts its points (for the tests).
function redrawChart(chart, key, canvas) {
  if (!chart) return;
  let points = 0;
  for (const [runId, byEpoch] of epochs) {
    const rows = [...byEpoch.values()].sort((a, b) => a.epoch - b.epoch);
    const series = seriesFor(chart, runId);
    series.data = rows.filter((r) => typeof r[key] === "number").map((r) => ({ x: r.epoch, y: r[key] }));
    series.label = trialLabel(runs.get(runId));
    points += series.data.length;
  }
  chart.update();
  canvas.dataset.points = String(points);
}

function redrawCurves() {
  if (curves.score) redrawChart(charts.acc, curves.score.name, $("chart-acc"));
  if (curves.loss) redrawChart(charts.loss, curves.loss.name, $("chart-loss"));
}

function trialRow(run) {
  const cells = [
    el("td", { className: "num" }, el("a", { href: `/runs/${run.id}` }, num(run.trial_number))),
    el("td", {}, badge(run.status)),
    el("td", {}, run.model),
    el("td", { className: "wrap small" }, paramsText(run.params)),
    el("td", { className: "num" }, num(run.epochs_completed)),
    el("td", { className: "num" }, num(run.best_val)),
    el("td", { className: "num" }, pct(run.primary_value)),
    el("td", { className: "num" }, secs(run.train_time_s)),
    el("td", { className: "num" }, num(run.latency_ms, 3)),
  ];
  const row = el("tr", { dataset: { runId: String(run.id) } }, cells);
  if (run.error) row.title = run.error;
  if (run.id === bestRunId) row.classList.add("best");
  return row;
}

function renderTable() {
  const body = $("trials").tBodies[0];
  const sorted = [...runs.values()].sort((a, b) => (a.trial_number ?? a.id) - (b.trial_number ?? b.id));
  for (const run of sorted) {
    const fresh = trialRow(run);
    const old = body.querySelector(`tr[data-run-id="${run.id}"]`);
    if (old) old.replaceWith(fresh);
    else body.append(fresh);
  }
  $("no-trials").hidden = runs.size > 0;
}

function renderExperiment(exp) {
  status = exp.status;
  bestRunId = exp.best_run_id;
  const p = exp.progress;
  $("exp-status").replaceChildren(badge(exp.status));
  $("p-done").textContent = p.done;
  $("p-total").textContent = p.total;
  $("p-running").textContent = p.running;
  $("p-pruned").textContent = p.pruned;
  $("p-failed").textContent = p.failed;
  $("p-elapsed").textContent = secs(p.elapsed_s);
  $("p-eta").textContent = exp.status === "open" ? (p.eta_s === null ? "estimating…" : secs(p.eta_s)) : "—";
  $("p-bar").style.width = `${(p.fraction * 100).toFixed(1)}%`;
  $("p-bar-wrap").classList.toggle("done", exp.status !== "open");
  $("best-value").textContent = num(exp.best_value);
  $("cancel").hidden = exp.status !== "open";
  if (exp.best_run_id) {
    $("best").hidden = false;
    $("best-link").href = `/runs/${exp.best_run_id}`;
    $("best-link").textContent = `run ${exp.best_run_id}`;
    $("best-download").href = `/api/runs/${exp.best_run_id}/model.zip`;
  }
}

let refreshTimer = null;
function drawHistory(history) {
  const pts = history.points || [];
  $("history-box").hidden = pts.length === 0;
  $("history-empty").hidden = pts.length > 0;
  charts.history.data.datasets = [
    { label: "trial value", data: pts.map((q) => ({ x: q.trial, y: q.value })), showLine: false,
      borderColor: colour(0), backgroundColor: colour(0), pointRadius: 4 },
    { label: "best so far", data: pts.map((q) => ({ x: q.trial, y: q.best })), stepped: true,
      borderColor: colour(2), backgroundColor: colour(2), pointRadius: 0, borderWidth: 2 },
  ];
  charts.history.update();
}

function drawImportance(importance) {
  const entries = Object.entries(importance.params || {}).sort((a, b) => b[1] - a[1]);
  $("importance-box").hidden = entries.length === 0;
  $("importance-empty").hidden = entries.length > 0;
  charts.importance.data.labels = entries.map((e) => e[0]);
  charts.importance.data.datasets = [{ label: "importance", data: entries.map((e) => e[1]),
    backgroundColor: colour(4), maxBarThickness: 28 }];
  charts.importance.update();
}

function refreshAnalysis() {
  clearTimeout(refreshTimer);
  refreshTimer = setTimeout(() => {
    if (!charts.history) return;
    api(`/api/experiments/${expId}/history`).then(drawHistory)
      .catch((error) => console.warn("history", error));
    api(`/api/experiments/${expId}/importance`).then(drawImportance)
      .catch((error) => console.warn("importance", error));
  }, 300);
}

function apply(message) {
  if (message.type === "ping") return;
  if (message.type === "error") {
    setLive("off", message.detail || "error");
    return;
  }
  if (typeof message.cursor === "number") cursor = Math.max(cursor, message.cursor);
  let finished = message.type === "snapshot";
  for (const run of message.runs || []) {
    const before = runs.get(run.id);
    if (FINISHED.has(run.status) && (!before || before.status !== run.status)) finished = true;
    runs.set(run.id, run);
  }
  for (const row of message.epochs || []) {
    if (!epochs.has(row.run_id)) epochs.set(row.run_id, new Map());
    epochs.get(row.run_id).set(row.epoch, row);
  }
  if (message.experiment) renderExperiment(message.experiment);
  if ((message.runs || []).length || message.experiment) renderTable();
  if ((message.epochs || []).length || (message.runs || []).length) redrawCurves();
  if (finished) refreshAnalysis();
}

function setLive(state, text) {
  $("live-dot").className = `live-dot ${state}`;
  $("live-text").textContent = text;
}

function connect() {
  const scheme = window.location.protocol === "https:" ? "wss" : "ws";
  const socket = new WebSocket(`${scheme}://${window.location.host}/ws/experiments/${expId}?after=${cursor}`);
  socket.addEventListener("open", () => setLive("on", "live"));
  socket.addEventListener("message", (event) => {
    retry = 0;
    try {
      apply(JSON.parse(event.data));
    } catch (error) {
      console.error("bad live message", error);
    }
  });
  socket.addEventListener("close", (event) => {
    if (event.code === 4404 || event.code === 4401) {
      setLive("off", event.code === 4401 ? "not allowed: log in again" : "experiment not found");
      return;
    }
    const delay = Math.min(30000, 500 * 2 ** retry) * (0.75 + Math.random() / 2);
    retry += 1;
    setLive("off", `disconnected; retrying in ${Math.round(delay / 1000)}s`);
    setTimeout(connect, delay);
  });
}

$("cancel").addEventListener("click", async () => {
  if (!window.confirm("Cancel this experiment? Running trials stop; finished ones are kept.")) return;
  $("cancel").disabled = true;
  try {
    renderExperiment(await api(`/api/experiments/${expId}/cancel`, { method: "POST" }));
  } catch (error) {
    window.alert(`Could not cancel: ${error.message}`);
  } finally {
    $("cancel").disabled = false;
  }
});

window.imgrecLive = { charts, runs, epochs, cursor: () => cursor, status: () => status };
refreshAnalysis();
connect();
