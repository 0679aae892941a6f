// Run page: learning curves (loss on the left axis, accuracy, mAP or mIoU on the right), the predict
// box (classes, boxes, or the predicted mask with its class shares) and the look-inside views.
import { api, chartsAvailable, colour, el, lineOptions, pageData } from "./common.js";

const data = pageData();
const $ = (id) => document.getElementById(id);

// The task's per-epoch metrics (data.series, from its metric specs): scores on the right axis
// (0..1), losses dashed on the left.
function curves() {
  const canvas = $("chart-curves");
  if (!canvas || !chartsAvailable()) return;
  const datasets = (data.series || [])
    .map((s, i) => ({
      label: s.label,
      yAxisID: s.axis === "loss" ? "loss" : "acc",
      data: data.epochs.filter((e) => typeof e[s.name] === "number").map((e) => ({ x: e.epoch, y: e[s.name] })),
      borderColor: colour(i),
      backgroundColor: colour(i),
      borderDash: s.axis === "loss" ? [5, 3] : [],
      borderWidth: 2,
      pointRadius: 3,
    }))
    .filter((d) => d.data.length);
  const options = lineOptions({ x: "epoch", y: "" });
  delete options.scales.y;
  options.scales.loss = { position: "left", title: { display: true, text: "loss" }, beginAtZero: true };
  options.scales.acc = { position: "right", min: 0, max: 1, title: { display: true, text: data.score_axis || "score" },
    grid: { drawOnChartArea: false } };
  new window.Chart(canvas, { type: "line", data: { datasets }, options });
  canvas.dataset.series = datasets.map((d) => d.label).join(",");
}

async function predict(event) {
  event.preventDefault();
  const file = $("predict-file").files[0];
  if (!file) return;
  $("predict-error").hidden = true;
  const button = event.target.querySelector("button");
  button.disabled = true;
  button.textContent = "Predicting…";
  const explain = $("predict-explain").checked ? "gradcam" : "none";
  try {
    const answer = await api(`/api/runs/${data.id}/predict?top_k=5&explain=${explain}`, {
      method: "POST",
      body: file,
      headers: { "Content-Type": file.type || "application/octet-stream" },
    });
    $("predict-input").src = answer.drawn_png ? `data:image/png;base64,${answer.drawn_png}` : URL.createObjectURL(file);
    if (answer.task === "segment") {
      $("predictions").replaceChildren(...answer.shares.map((s) => el("li", {},
        el("span", { style: "min-width:8rem; font-weight:600" }, s.label),
        el("span", { className: "bar", style: `width:${Math.max(2, s.share * 160)}px` }),
        el("span", { className: "muted" }, `${(s.share * 100).toFixed(1)}% of the pixels`))));
      $("predict-heatmap").hidden = true;
      $("predict-time").textContent = `${answer.time_ms.toFixed(0)} ms on the server`;
      $("predict-out").hidden = false;
      return;
    }
    if (answer.drawn_png) {
      $("predictions").replaceChildren(...answer.detections.map((d) => el("li", {},
        el("span", { style: "min-width:8rem; font-weight:600" }, d.label),
        el("span", { className: "bar", style: `width:${Math.max(2, d.score * 160)}px` }),
        el("span", { className: "muted" }, `${(d.score * 100).toFixed(1)}% at ${d.box.map((v) => v.toFixed(0)).join(", ")}`
          + (typeof d.mask_pixels === "number" ? `, mask ${d.mask_pixels} px` : "")))));
      if (!answer.detections.length) $("predictions").replaceChildren(el("li", { className: "muted" }, "no box above the threshold"));
      $("predict-heatmap").hidden = true;
      $("predict-time").textContent = `${answer.time_ms.toFixed(0)} ms on the server`;
      $("predict-out").hidden = false;
      return;
    }
    const heat = $("predict-heatmap");
    heat.hidden = !answer.heatmap_png;
    if (answer.heatmap_png) heat.src = `data:image/png;base64,${answer.heatmap_png}`;
    $("predictions").replaceChildren(...answer.predictions.map((p) => el("li", {},
      el("span", { style: "min-width:8rem; font-weight:600" }, p.label),
      el("span", { className: "bar", style: `width:${Math.max(2, p.probability * 160)}px` }),
      el("span", { className: "muted" }, `${(p.probability * 100).toFixed(1)}%`))));
    $("predict-time").textContent = `${answer.time_ms.toFixed(0)} ms on the server`;
    $("predict-out").hidden = false;
  } catch (error) {
    $("predict-error").textContent = error.message;
    $("predict-error").hidden = false;
  } finally {
    button.disabled = false;
    button.textContent = "Predict";
  }
}

async function inspect(view, button) {
  for (const id of ["inspect-error", "inspect-image", "inspect-table"]) $(id).hidden = true;
  $("inspect-wait").hidden = false;
  button.disabled = true;
  try {
    const answer = await api(`/api/runs/${data.id}/inspect/${view}`);
    if (answer.png) {
      $("inspect-image").src = `data:image/png;base64,${answer.png}`;
      $("inspect-image").hidden = false;
    }
    if (answer.table) {
      $("inspect-table").textContent = answer.table;
      $("inspect-table").hidden = false;
    }
  } catch (error) {
    $("inspect-error").textContent = error.message;
    $("inspect-error").hidden = false;
  } finally {
    $("inspect-wait").hidden = true;
    button.disabled = false;
  }
}

curves();
for (const button of document.querySelectorAll("[data-inspect]")) {
  button.addEventListener("click", () => inspect(button.dataset.inspect, button));
}
const predictForm = $("predict-form");
if (predictForm) predictForm.addEventListener("submit", predict);
