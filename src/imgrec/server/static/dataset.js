// Dataset report page: the class histogram (or a detection or segmentation dataset's charts), and
// polling while the server still checks images.
import { api, chartsAvailable, colour, pageData } from "./common.js";
import { detectionCharts } from "./dataset_detect.js";
import { segmentationCharts } from "./dataset_segment.js";

const data = pageData();

async function poll() {
  try {
    const detail = await api(`/api/datasets/${encodeURIComponent(data.id)}`);
    if (detail.status !== "checking") {
      window.location.reload();
      return;
    }
  } catch (error) {
    console.warn("dataset poll failed", error);
  }
  setTimeout(poll, 1000);
}

function histogram() {
  const canvas = document.getElementById("histogram");
  if (!canvas || !chartsAvailable()) return;
  const classes = data.classes || [];
  const order = (s) => (["train", "val", "test"].indexOf(s) + 4) % 4; // known splits first
  const splits = Object.keys(data.per_split || {}).sort((a, b) => order(a) - order(b)).filter((s) =>
    classes.some((c) => (data.per_split[s][c] || 0) > 0),
  );
  const datasets = splits.length
    ? splits.map((split, i) => ({
        label: split,
        data: classes.map((c) => data.per_split[split][c] || 0),
        backgroundColor: colour(i),
      }))
    : [{ label: "images", data: classes.map((c) => data.per_class[c] || 0), backgroundColor: colour(0) }];
  new window.Chart(canvas, {
    type: "bar",
    data: { labels: classes, datasets },
    options: {
      responsive: true,
      maintainAspectRatio: false,
      animation: false,
      plugins: { legend: { display: datasets.length > 1, position: "bottom" } },
      scales: {
        x: { stacked: true, title: { display: true, text: "class" } },
        y: { stacked: true, beginAtZero: true, title: { display: true, text: "images" }, ticks: { precision: 0 } },
      },
    },
  });
}

if (data.status === "checking") setTimeout(poll, 800);
if (data.task === "detect" || data.task === "instance") {
  if (chartsAvailable()) detectionCharts(data);
} else if (data.task === "segment") {
  if (chartsAvailable()) segmentationCharts(data);
} else histogram();
