// Compare page: the validation score curves (the task's: accuracy, mAP) of the compared runs.
import { chartsAvailable, colour, lineOptions, pageData } from "./common.js";

const data = pageData();
const canvas = document.getElementById("chart-compare");
if (canvas && chartsAvailable()) {
  new window.Chart(canvas, {
    type: "line",
    data: {
      datasets: (data.runs || []).map((run, i) => ({
        label: `run ${run.id} · ${run.name}`,
        data: run.points.map(([x, y]) => ({ x, y })),
        borderColor: colour(i),
        backgroundColor: colour(i),
        borderWidth: 2,
        pointRadius: 3,
      })),
    },
    options: lineOptions({ x: "epoch", y: (data.score || {}).label || "validation accuracy", yMin: 0, yMax: 1 }),
  });
}
