"use strict";

// Relative to the page, so a reverse proxy may serve everything under a path prefix.
const API = "api/v1/";
const MIN_CAM_GRID = 7; // below this a map cannot point at a bone region (see serve/panel.py)
const $ = (id) => document.getElementById(id);
let limits = null; // from api/v1/model; the server checks again
let camGrid = null;
let previewUrl = null;
const results = []; // {file, prediction | error}, in drop order

function showStatus(text) {
  $("status").textContent = text;
}

function showError(text) {
  $("error").textContent = text;
  $("error").hidden = false;
}

function percent(value) {
  return `${(100 * value).toFixed(1)} %`;
}

async function loadModel() {
  try {
    const response = await fetch(API + "model");
    if (!response.ok) throw new Error(`${response.status} ${response.statusText}`);
    const model = await response.json();
    limits = model.limits;
    camGrid = model.cam_grid;
    $("model-info").textContent =
      `${model.model}, deciding at P(fractured) ≥ ${model.threshold.toFixed(3)}; ` +
      `checkpoint sha256 ${model.checkpoint_sha256.slice(0, 12)}…`;
    showCard(model.card);
  } catch (error) {
    $("model-info").textContent = "";
    showError(`Cannot reach the server for the model's description (${error.message}).`);
  }
}

function showCard(card) {
  const missing = "not recorded (a checkpoint from before model cards)";
  if (card) {
    const images = card.training_data.images || {};
    const counts = Object.entries(images).map(([split, n]) => `${n} ${split}`).join(", ");
    $("card-data").textContent = `${counts || "?"} images from ${card.training_data.root}`;
    const v = card.validation;
    $("card-validation").textContent =
      `sensitivity ${percent(v.sensitivity)}, specificity ${percent(v.specificity)} ` +
      `at threshold ${v.threshold.toFixed(3)} (AUROC ${v.auroc.toFixed(3)})`;
    $("card-use").textContent = card.intended_use || missing;
  } else {
    for (const id of ["card-data", "card-validation", "card-use"]) $(id).textContent = missing;
  }
  $("model-card").hidden = false;
}

function refused(file) {
  if (!limits) return null;
  if (file.size <= limits.max_upload_mb * 1024 * 1024) return null;
  const mb = (file.size / 1024 / 1024).toFixed(1);
  return `${file.name}: ${mb} MiB is larger than the server accepts (${limits.max_upload_mb} MiB).`;
}

async function post(path, field, file) {
  const form = new FormData();
  form.append(field, file, file.name);
  const response = await fetch(API + path, { method: "POST", body: form });
  if (response.ok) return response;
  const body = await response.json().catch(() => null);
  const detail = body && typeof body.detail === "string" ? body.detail : null;
  throw new Error(detail || `The server answered ${response.status} ${response.statusText}.`);
}

async function predict(file) {
  const response = await post("predict?explain=true", "files", file);
  return (await response.json()).predictions[0];
}

// Browsers cannot show DICOM or 16-bit images: the server decodes them as the model does.
async function showPreview(file) {
  if (previewUrl) URL.revokeObjectURL(previewUrl);
  previewUrl = null;
  $("preview").removeAttribute("src");
  try {
    const response = await post("preview", "file", file);
    previewUrl = URL.createObjectURL(await response.blob());
    $("preview").src = previewUrl;
    $("preview-caption").textContent = "The uploaded image, as the server decodes it";
  } catch (error) {
    $("preview-caption").textContent = `No preview: ${error.message}`;
  }
}

function showCamWarning() {
  const coarse = camGrid && Math.min(...camGrid) < MIN_CAM_GRID;
  $("cam-warning").hidden = !coarse;
  if (coarse) {
    $("cam-warning").textContent =
      `This map is only ${camGrid[0]}×${camGrid[1]} cells (maps under ` +
      `${MIN_CAM_GRID}×${MIN_CAM_GRID} are too coarse to localise): a coloured region may ` +
      "be soft tissue, not the fracture. Train at a larger image size for usable maps.";
  }
}

function showResult(index) {
  const { file, prediction } = results[index];
  document.querySelectorAll("#results-body tr").forEach((row, i) => {
    row.classList.toggle("selected", i === index);
  });
  $("result-name").textContent = prediction.filename;
  $("probability").textContent = prediction.probability.toFixed(3);
  $("probability-meter").value = prediction.probability;
  $("probability-meter").low = prediction.threshold;
  const decision = prediction.fractured ? "fractured" : "not fractured";
  $("decision").textContent = `${decision} (threshold ${prediction.threshold.toFixed(3)})`;
  $("decision").className = prediction.fractured ? "positive" : "negative";
  $("result-model").textContent = prediction.model;
  const t = prediction.timing;
  $("timing").textContent =
    `${(t.decode_ms + t.inference_ms + (t.explain_ms || 0)).toFixed(0)} ms ` +
    `(decode ${t.decode_ms.toFixed(0)}, model ${t.inference_ms.toFixed(0)}, ` +
    `map ${(t.explain_ms || 0).toFixed(0)})`;
  $("cam-view").src = prediction.view;
  $("overlay").src = prediction.cam;
  showCamWarning();
  $("result").hidden = false;
  showPreview(file);
}

function addRow(index) {
  const { file, prediction, error } = results[index];
  const row = document.createElement("tr");
  const cells = prediction
    ? [file.name, prediction.probability.toFixed(3), prediction.fractured ? "fractured" : "not fractured"]
    : [file.name, "–", error];
  for (const text of cells) {
    const cell = document.createElement("td");
    cell.textContent = text;
    row.append(cell);
  }
  if (prediction) {
    row.tabIndex = 0;
    row.addEventListener("click", () => showResult(index));
    row.addEventListener("keydown", (event) => {
      if (event.key === "Enter" || event.key === " ") showResult(index);
    });
  } else {
    row.lastChild.className = "failed";
  }
  $("results-body").append(row);
  $("results").hidden = false;
}

async function analyse(file) {
  const problem = refused(file);
  if (problem) return { file, error: problem };
  try {
    return { file, prediction: await predict(file) };
  } catch (error) {
    // fetch rejects with a TypeError when the server cannot be reached at all.
    const text = error instanceof TypeError ? `Cannot reach the server (${error.message}).`
                                            : error.message;
    return { file, error: text };
  }
}

async function choose(fileList) {
  const files = Array.from(fileList || []);
  if (files.length === 0) return;
  $("error").hidden = true;
  // One file per request, in turn: every file gets its own answer or its own error.
  for (const [n, file] of files.entries()) {
    showStatus(`Analysing ${file.name} (${n + 1} of ${files.length})…`);
    const result = await analyse(file);
    results.push(result);
    addRow(results.length - 1);
    if (result.error) showError(result.error);
    else if ($("result").hidden || n === 0) showResult(results.length - 1);
  }
  showStatus(`${files.length} file(s) analysed; choose a row to see its map.`);
}

$("cam-opacity").addEventListener("input", (event) => {
  $("overlay").style.opacity = String(event.target.value / 100);
});

const zone = $("drop-zone");
zone.addEventListener("dragover", (event) => {
  event.preventDefault();
  zone.classList.add("dragging");
});
zone.addEventListener("dragleave", () => zone.classList.remove("dragging"));
zone.addEventListener("drop", (event) => {
  event.preventDefault();
  zone.classList.remove("dragging");
  choose(event.dataTransfer.files);
});
// The button is the keyboard's way in; a click anywhere on the zone does the same.
zone.addEventListener("click", (event) => {
  if (event.target !== $("file-input")) $("file-input").click();
});
$("file-input").addEventListener("change", (event) => {
  choose(event.target.files);
  event.target.value = ""; // the same files chosen again are analysed again
});

loadModel();
