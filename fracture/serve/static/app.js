"use strict";

// Relative to the page, so a reverse proxy may serve everything under a path prefix.
const API = "api/v1/";
const $ = (id) => document.getElementById(id);
let limits = null; // from api/v1/model; the server checks again
let previewUrl = null;

function showStatus(text) {
  $("status").textContent = text;
}

function showError(text) {
  $("error").textContent = text;
  $("error").hidden = false;
}

function reset() {
  $("error").hidden = true;
  $("result").hidden = true;
  if (previewUrl) URL.revokeObjectURL(previewUrl);
  previewUrl = null;
}

async function loadModel() {
  try {
    const response = await fetch(API + "model");
    if (!response.ok) throw new Error(`${response.status} ${response.statusText}`);
    const model = await response.json();
    limits = model.limits;
    $("model-info").textContent =
      `Model ${model.model}, threshold ${model.threshold.toFixed(3)}, ` +
      `checkpoint sha256 ${model.checkpoint_sha256.slice(0, 12)}…`;
  } catch (error) {
    $("model-info").textContent = "";
    showError(`Cannot reach the server for the model's description (${error.message}).`);
  }
}

function tooLarge(file) {
  if (!limits) return null;
  const bytes = limits.max_upload_mb * 1024 * 1024;
  if (file.size <= bytes) return null;
  const mb = (file.size / 1024 / 1024).toFixed(1);
  return `${file.name}: ${mb} MiB is larger than the server accepts (${limits.max_upload_mb} MiB).`;
}

function showPreview(file) {
  previewUrl = URL.createObjectURL(file);
  $("preview").hidden = false;
  $("preview-caption").textContent = "Uploaded image";
  $("preview").src = previewUrl;
}

// Browsers cannot show DICOM: the overlay beside it is the model's view of the image.
$("preview").addEventListener("error", () => {
  if (!previewUrl) return;
  $("preview").hidden = true;
  $("preview-caption").textContent =
    "This browser cannot display the file (DICOM?); the overlay shows what the model saw.";
});

async function predict(file) {
  const form = new FormData();
  form.append("files", file, file.name);
  const response = await fetch(API + "predict?explain=true", { method: "POST", body: form });
  const body = await response.json().catch(() => null);
  if (!response.ok) {
    const detail = body && typeof body.detail === "string" ? body.detail : null;
    throw new Error(detail || `The server answered ${response.status} ${response.statusText}.`);
  }
  return body.predictions[0];
}

function showResult(prediction) {
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
    `overlay ${(t.explain_ms || 0).toFixed(0)})`;
  $("overlay").src = prediction.overlay;
  $("result").hidden = false;
}

async function analyse(file) {
  reset();
  const problem = tooLarge(file);
  if (problem) return showError(problem);
  showPreview(file);
  showStatus(`Analysing ${file.name}…`);
  try {
    showResult(await predict(file));
    showStatus("");
  } catch (error) {
    showStatus("");
    // fetch rejects with a TypeError when the server cannot be reached at all.
    showError(error instanceof TypeError ? `Cannot reach the server (${error.message}).`
                                         : error.message);
  }
}

function choose(files) {
  if (!files || files.length === 0) return;
  analyse(files[0]);
}

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
  event.target.value = ""; // the same file chosen again is analysed again
});

loadModel();
