// Detection dataset report: objects and images per class and split, and the COCO box-size bands.
import { colour } from "./common.js";

const BANDS = ["small", "medium", "large"];
const SPLIT_COLOURS = { train: "#1d2330", val: "#868e96", test: "#0c8599" }; // not class colours

function barOptions({ x, y, legend = true, stacked = true }) {
  return {
    responsive: true,
    maintainAspectRatio: false,
    animation: false,
    plugins: { legend: { display: legend, position: "bottom", labels: { boxWidth: 12 } } },
    scales: {
      x: { stacked, title: { display: true, text: x } },
      y: { stacked, beginAtZero: true, title: { display: true, text: y }, ticks: { precision: 0 } },
    },
  };
}

// Two stacks per class, objects (solid) and images (light), each split a colour.
function perClass(canvas, data) {
  const classes = data.classes || [];
  const splits = data.splits || [];
  const datasets = [];
  splits.forEach((split, i) => {
    const objects = (data.instances || {})[split] || {};
    const images = (data.images || {})[split] || {};
    const tint = SPLIT_COLOURS[split] || colour(i + 6);
    datasets.push({ label: `${split} objects`, stack: "objects", backgroundColor: tint,
      data: classes.map((c) => objects[c] || 0) });
    datasets.push({ label: `${split} images`, stack: "images", backgroundColor: `${tint}55`,
      borderColor: tint, borderWidth: 1, data: classes.map((c) => images[c] || 0) });
  });
  const chart = new window.Chart(canvas, { type: "bar", data: { labels: classes, datasets },
    options: barOptions({ x: "class", y: "objects | images" }) });
  canvas.dataset.bars = String(datasets.reduce((n, d) => n + d.data.filter((v) => v > 0).length, 0));
  return chart;
}

// Boxes per size band, stacked by class (the class colours of the sample boxes).
function boxSizes(canvas, data) {
  const classes = data.classes || [];
  const sizes = data.box_sizes || {};
  const datasets = classes.map((c, i) => ({ label: c, backgroundColor: colour(i),
    data: BANDS.map((band) => (sizes[c] || {})[band] || 0) }));
  const chart = new window.Chart(canvas, { type: "bar", data: { labels: BANDS, datasets },
    options: barOptions({ x: "box size (COCO area band)", y: "boxes", legend: classes.length > 1 }) });
  canvas.dataset.bars = String(datasets.reduce((n, d) => n + d.data.filter((v) => v > 0).length, 0));
  return chart;
}

export function detectionCharts(data) {
  const charts = {};
  const per = document.getElementById("det-per-class");
  if (per) charts.perClass = perClass(per, data);
  const sizes = document.getElementById("det-box-sizes");
  if (sizes) charts.boxSizes = boxSizes(sizes, data);
  return charts;
}
