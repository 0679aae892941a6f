// Datasets page: drag-and-drop (or pick) a zip, upload it with a progress bar, then open its
// report page. XHR rather than fetch because only XHR reports upload progress.
import { errorText } from "./common.js";

const zone = document.getElementById("dropzone");
const input = document.getElementById("file");
const statusBox = document.getElementById("upload-status");
const label = document.getElementById("upload-label");
const bar = document.getElementById("upload-bar");
const errorBox = document.getElementById("upload-error");

function showError(message) {
  errorBox.textContent = message;
  errorBox.hidden = false;
  statusBox.hidden = true;
  input.disabled = false;
}

function mb(bytes) {
  if (bytes < 1024 * 1024) return `${Math.round(bytes / 1024)} KB`;
  return `${(bytes / 1024 / 1024).toFixed(1)} MB`;
}

function upload(file) {
  errorBox.hidden = true;
  if (!file.name.toLowerCase().endsWith(".zip")) {
    showError(`${file.name}: choose a .zip file (one folder per class inside).`);
    return;
  }
  input.disabled = true;
  statusBox.hidden = false;
  bar.style.width = "0%";
  label.textContent = `Uploading ${file.name}…`;
  const xhr = new XMLHttpRequest();
  // The zip itself is the body: the server counts its bytes against the limit as they arrive.
  xhr.open("POST", `/api/datasets?name=${encodeURIComponent(file.name)}`);
  xhr.setRequestHeader("Content-Type", "application/zip");
  xhr.responseType = "json";
  xhr.upload.addEventListener("progress", (event) => {
    if (!event.lengthComputable) return;
    const share = event.loaded / event.total;
    bar.style.width = `${(share * 100).toFixed(1)}%`;
    label.textContent = `Uploading ${file.name}: ${mb(event.loaded)} of ${mb(event.total)} (${Math.round(share * 100)}%)`;
  });
  xhr.upload.addEventListener("load", () => {
    bar.style.width = "100%";
    label.textContent = `${file.name} sent; extracting and checking the zip…`;
  });
  xhr.addEventListener("load", () => {
    const body = xhr.response;
    if (xhr.status >= 200 && xhr.status < 300 && body && body.id) {
      window.location.assign(`/datasets/${encodeURIComponent(body.id)}`);
    } else if (xhr.status === 401) {
      window.location.assign(`/login?next=${encodeURIComponent("/datasets")}`);
    } else {
      showError(errorText(body, xhr.status));
    }
  });
  xhr.addEventListener("error", () => showError("The upload was interrupted (network error); try again."));
  xhr.send(file);
}

input.addEventListener("change", () => {
  if (input.files.length) upload(input.files[0]);
});
zone.addEventListener("click", (event) => {
  if (event.target !== input && !input.disabled) input.click();
});
for (const name of ["dragenter", "dragover"]) {
  zone.addEventListener(name, (event) => {
    event.preventDefault();
    zone.classList.add("over");
  });
}
for (const name of ["dragleave", "drop"]) {
  zone.addEventListener(name, () => zone.classList.remove("over"));
}
zone.addEventListener("drop", (event) => {
  event.preventDefault();
  const files = event.dataTransfer && event.dataTransfer.files;
  if (files && files.length && !input.disabled) upload(files[0]);
});
document.getElementById("upload-form").addEventListener("submit", (event) => {
  event.preventDefault();
  if (input.files.length) upload(input.files[0]);
});
