// New experiment form: the task (inferred from the chosen dataset, or another its layout allows),
// its models, searched parameters and objectives from GET /api/search/defaults?task=,
// POST /api/experiments, and each 422 error shown next to its field. A detection or segmentation
// search trains one model of its task (a radio choice); a classification search may try several.
import { api, el, pageData } from "./common.js";

const $ = (id) => document.getElementById(id);
const form = $("experiment-form");
const SKIP = new Set(["model", "epochs", "img_size"]); // own fields above
const PREFERRED_MODEL = "simple_cnn";
const TASK_NAMES = {
  classify: "classification", detect: "detection", segment: "semantic segmentation", instance: "instance segmentation",
};
// A search of these tasks trains one model: what it is called, and which is the quickest.
const SINGLE_MODEL = { detect: "Detector", segment: "Segmenter", instance: "Instance segmenter" };
let loading = 0; // the latest load wins when the task changes quickly

function setOptions(select, values, chosen) {
  if (!values || !values.length) return;
  select.replaceChildren(...values.map((v) => el("option", { value: v, selected: v === chosen }, v === "none" ? "off" : v)));
}

function listText(values) {
  return (values || []).join(", ");
}

function paramRow(name, info) {
  const spec = info.default;
  const isChoice = Array.isArray(spec) || info.type === "str";
  const searched = spec !== null && spec !== undefined && typeof spec === "object";
  const box = el("input", { type: "checkbox", name: `use.${name}`, checked: searched, "aria-label": `search ${name}` });
  let bounds;
  if (isChoice && Array.isArray(info.choices) && info.choices.length) {
    const picked = new Set(Array.isArray(spec) ? spec : []);
    bounds = el("span", { className: "checks" }, info.choices.map((c) => el("label", {},
      el("input", { type: "checkbox", name: `choice.${name}`, value: c, checked: picked.has(c) }), String(c))));
  } else if (isChoice) {
    bounds = el("input", { type: "text", name: `choices.${name}`, value: listText(Array.isArray(spec) ? spec : []),
      placeholder: "choices, separated by commas", size: 28, "aria-label": `${name} choices` });
  } else {
    const range = spec && !Array.isArray(spec) ? spec : {};
    const step = info.type === "int" ? "1" : "any";
    bounds = el("span", { className: "form-row", style: "gap:.5rem; align-items:center" },
      el("input", { type: "number", name: `low.${name}`, step, value: range.low ?? "", placeholder: "low", style: "width:8rem", "aria-label": `${name} low` }),
      "to",
      el("input", { type: "number", name: `high.${name}`, step, value: range.high ?? "", placeholder: "high", style: "width:8rem", "aria-label": `${name} high` }),
      el("label", { className: "small", style: "font-weight:400" },
        el("input", { type: "checkbox", name: `log.${name}`, checked: Boolean(range.log) }), " log"));
  }
  return el("tr", { dataset: { field: `space.${name}`, param: name, kind: isChoice ? "choice" : "range", type: info.type } },
    el("td", {}, box), el("td", {}, el("code", {}, name)), el("td", {}, bounds),
    el("td", {}, el("span", { className: "field-error" })));
}

function typed(text, type) {
  const value = text.trim();
  if (type === "int" || type === "float") return Number(value);
  return value;
}

function collect() {
  const data = new FormData(form);
  const space = {};
  const models = data.getAll("model");
  if (models.length) space.model = models.length === 1 ? models[0] : models; // one = fixed
  const epochs = data.get("epochs");
  if (epochs) space.epochs = Number(epochs);
  for (const row of $("params").querySelectorAll("tr[data-param]")) {
    const name = row.dataset.param;
    if (!data.get(`use.${name}`)) continue;
    if (row.dataset.kind === "choice") {
      const values = row.querySelector(`input[name="choice.${name}"]`)
        ? data.getAll(`choice.${name}`)
        : String(data.get(`choices.${name}`) || "").split(",").filter((v) => v.trim());
      const typedValues = values.map((v) => typed(v, row.dataset.type));
      space[name] = typedValues.length === 1 ? typedValues[0] : typedValues; // one = fixed
    } else {
      const low = data.get(`low.${name}`);
      const high = data.get(`high.${name}`);
      space[name] = { low: low === "" ? null : Number(low), high: high === "" ? null : Number(high),
        log: Boolean(data.get(`log.${name}`)) };
    }
  }
  const body = {
    task: data.get("task") || "classify",
    dataset_id: data.get("dataset_id"),
    space,
    trials: Number(data.get("trials")),
    pruner: data.get("pruner"),
    sampler: data.get("sampler"),
    metric: data.get("metric"),
  };
  if (data.get("name")) body.name = data.get("name");
  if (data.get("timeout_min")) body.timeout_min = Number(data.get("timeout_min"));
  if (data.get("image_size")) body.image_size = Number(data.get("image_size"));
  return body;
}

function clearErrors() {
  $("form-error").hidden = true;
  for (const node of form.querySelectorAll("[data-field]")) {
    node.classList.remove("has-error");
    const slot = node.querySelector(".field-error");
    if (slot) slot.textContent = "";
  }
}

// The element for an error key: "trials", "space.lr", "lr", "body.space.lr.low"...
function fieldFor(key) {
  const parts = String(key).replace(/^body\./, "").split(".");
  for (let n = parts.length; n > 0; n -= 1) {
    const name = parts.slice(0, n).join(".");
    for (const candidate of [name, `space.${name}`]) {
      const node = form.querySelector(`[data-field="${CSS.escape(candidate)}"]`);
      if (node) return node;
    }
  }
  return null;
}

function showErrors(error) {
  const body = error.body || {};
  const detail = body.detail;
  const errors = {};
  if (detail && typeof detail === "object" && !Array.isArray(detail)) Object.assign(errors, detail.errors || {});
  if (Array.isArray(detail)) for (const d of detail) errors[(d.loc || []).join(".")] = d.msg;
  const general = [];
  for (const [key, message] of Object.entries(errors)) {
    const node = fieldFor(key);
    if (node) {
      node.classList.add("has-error");
      node.querySelector(".field-error").textContent = message;
    } else general.push(`${key}: ${message}`);
  }
  const summary = Array.isArray(detail) ? "Some fields are not valid." : error.message;
  $("form-error").replaceChildren(el("strong", {}, summary), general.length ? el("ul", {}, general.map((g) => el("li", {}, g))) : "");
  $("form-error").hidden = false;
  const first = form.querySelector(".has-error") || $("form-error");
  first.scrollIntoView({ block: "center", behavior: "smooth" });
}

function datasetTask() {
  const option = $("dataset_id").selectedOptions[0];
  return option ? option.dataset.task || "classify" : null;
}

// Every task the chosen dataset can train (a COCO set with masks: instance, detect, segment).
const DATASET_TASKS = pageData().dataset_tasks || {};
function datasetTasks() {
  const option = $("dataset_id").selectedOptions[0];
  if (!option) return [];
  return DATASET_TASKS[option.value] || [option.dataset.task || "classify"];
}

// The task field says so at once when it does not fit the dataset (the server refuses it too).
function checkTask() {
  const node = form.querySelector('[data-field="task"]');
  const allowed = datasetTasks();
  const wrong = allowed.length && !allowed.includes($("task").value);
  node.classList.toggle("has-error", Boolean(wrong));
  const names = allowed.map((t) => TASK_NAMES[t] || t).join(" or ");
  node.querySelector(".field-error").textContent = wrong
    ? `this dataset is for ${names}; choose that task or another dataset` : "";
}

function modelChoices(task, models) {
  const single = SINGLE_MODEL[task];
  const preferred = models.includes(PREFERRED_MODEL) ? PREFERRED_MODEL : models[0];
  $("models-title").textContent = single || "Models";
  $("models-hint").textContent = single
    ? `A ${TASK_NAMES[task]} search trains one ${single.toLowerCase()} (the first is the quickest).`
    : "Tick several to let the search choose among them.";
  $("models").replaceChildren(...models.map((m) => el("label", {},
    el("input", { type: single ? "radio" : "checkbox", name: "model", value: m, checked: m === preferred }), m)));
}

function metricChoices(defaults) {
  const labels = defaults.metric_labels || {};
  const chosen = defaults.objective || (defaults.metrics || [])[0];
  $("metric").replaceChildren(...(defaults.metrics || []).map((m) => el("option",
    { value: m, selected: m === chosen }, labels[m] ? `${m} (${labels[m]})` : m)));
}

async function load(task) {
  const mine = ++loading;
  const defaults = await api(`/api/search/defaults?task=${encodeURIComponent(task)}`);
  if (mine !== loading) return;
  modelChoices(task, defaults.models || []);
  const rows = Object.entries(defaults.params || {}).filter(([name]) => !SKIP.has(name))
    .map(([name, info]) => paramRow(name, info));
  $("params").tBodies[0].replaceChildren(...rows);
  const epochs = (defaults.default_space || {}).epochs ?? (defaults.params.epochs || {}).default;
  if (typeof epochs === "number") $("epochs").value = epochs;
  setOptions($("sampler"), defaults.samplers, $("sampler").value || "tpe");
  setOptions($("pruner"), defaults.pruners, $("pruner").value || "median");
  metricChoices(defaults);
  form.dataset.task = task; // loaded: the browser tests wait for this
}

function failed(error) {
  $("form-error").textContent = `Could not load the search defaults: ${error.message}`;
  $("form-error").hidden = false;
}

form.addEventListener("submit", async (event) => {
  event.preventDefault();
  clearErrors();
  $("start").disabled = true;
  try {
    const created = await api("/api/experiments", { method: "POST", json: collect() });
    window.location.assign(`/experiments/${created.id}`);
  } catch (error) {
    if (error.status === undefined) throw error;
    showErrors(error);
    $("start").disabled = false;
  }
});

$("task").addEventListener("change", () => {
  checkTask();
  load($("task").value).catch(failed);
});
$("dataset_id").addEventListener("change", () => {
  const wanted = datasetTask();
  if (wanted && !datasetTasks().includes($("task").value)) {
    $("task").value = wanted;
    load(wanted).catch(failed);
  }
  checkTask();
});

if (datasetTask() && !datasetTasks().includes($("task").value)) $("task").value = datasetTask();
checkTask();
load($("task").value).catch(failed);
