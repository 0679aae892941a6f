// Segmentation dataset report: each class's share of the labelled pixels, and the images whose
// mask shows it, per split (the split colours of the detection charts; classes on the x axis).
const SPLIT_COLOURS = { train: "#1d2330", val: "#868e96", test: "#0c8599" };
const OTHER_SPLIT = "#adb5bd";

function barOptions({ x, y, percent = false }) {
  const ticks = percent ? { callback: (v) => `${v}%` } : { precision: 0 };
  return {
    responsive: true,
    maintainAspectRatio: false,
    animation: false,
    plugins: {
      legend: { display: true, position: "bottom", labels: { boxWidth: 12 } },
      tooltip: percent ? { callbacks: { label: (c) => `${c.dataset.label}: ${c.parsed.y.toFixed(2)}%` } } : {},
    },
    scales: {
      x: { title: { display: true, text: x } },
      y: { beginAtZero: true, title: { display: true, text: y }, ticks },
    },
  };
}

function splitBars(canvas, data, values, options) {
  const classes = data.classes || [];
  const datasets = (data.splits || []).map((split) => ({
    label: split,
    backgroundColor: SPLIT_COLOURS[split] || OTHER_SPLIT,
    data: (values[split] || []).map((v) => (options.percent ? 100 * v : v)),
  }));
  new window.Chart(canvas, { type: "bar", data: { labels: classes, datasets }, options: barOptions(options) });
  canvas.dataset.bars = String(datasets.reduce((n, d) => n + d.data.filter((v) => v > 0).length, 0));
}

export function segmentationCharts(data) {
  const share = document.getElementById("seg-pixel-share");
  if (share) splitBars(share, data, data.pixel_share || {}, { x: "class", y: "share of labelled pixels", percent: true });
  const images = document.getElementById("seg-images");
  if (images) splitBars(images, data, data.images_with_class || {}, { x: "class", y: "images showing the class" });
}
