// The impasto web page: a photo and a style in, the job followed by server-sent events, the
// picture out. Plain JavaScript, no build step, nothing fetched from anywhere but this server.
"use strict";

const $ = (id) => document.getElementById(id);
const state = { photo: null, style: null, styles: [], job: null, source: null, photoUrl: null };

function say(text) { $("message").textContent = text || ""; }

async function api(path, options = {}) {
  const response = await fetch(path, options);
  if (!response.ok) {
    let detail = `${response.status} ${response.statusText}`;
    try { detail = (await response.json()).detail || detail; } catch (_) { /* not JSON */ }
    if (typeof detail !== "string") detail = JSON.stringify(detail);
    throw new Error(detail);
  }
  return response.status === 204 ? null : response.json();
}

// ---------------------------------------------------------------------------------- photo

function setPhoto(file) {
  if (!file) return;
  if (!file.type.startsWith("image/")) { say(`${file.name} is not a picture`); return; }
  state.photo = file;
  if (state.photoUrl) URL.revokeObjectURL(state.photoUrl);
  state.photoUrl = URL.createObjectURL(file);
  const img = $("photo-preview");
  img.onload = () => resetBrush(img.naturalWidth, img.naturalHeight);
  img.src = state.photoUrl;
  img.alt = `Your photo: ${file.name}`;
  $("brush-area").hidden = false;
  $("brush-tools").hidden = false;
  $("drop-text").textContent = file.name;
  say("");
}

// ---------------------------------------------------------------------------------- brush
// What is brushed on the photo is kept as it is (method optimize's protect mask): shown in
// red over the photo, sent as a black and white mask at the photo's size (at most 1024 px).

const brush = { mask: null, strokes: 0, drawing: false };

function resetBrush(width, height) {
  const scale = Math.min(1, 1024 / Math.max(width, height));
  const canvas = $("brush");
  canvas.width = Math.round(width * scale);
  canvas.height = Math.round(height * scale);
  brush.mask = document.createElement("canvas");
  brush.mask.width = canvas.width;
  brush.mask.height = canvas.height;
  const m = brush.mask.getContext("2d");
  m.fillStyle = "#000";
  m.fillRect(0, 0, canvas.width, canvas.height);
  canvas.getContext("2d").clearRect(0, 0, canvas.width, canvas.height);
  brush.strokes = 0;
}

function paint(e) {
  const canvas = $("brush");
  const box = canvas.getBoundingClientRect();
  const x = (e.clientX - box.left) * canvas.width / box.width;
  const y = (e.clientY - box.top) * canvas.height / box.height;
  const radius = Math.max(4, canvas.width / 30);
  for (const [ctx, colour] of [[canvas.getContext("2d"), "rgba(181, 69, 43, 0.55)"],
                               [brush.mask.getContext("2d"), "#fff"]]) {
    ctx.fillStyle = colour;
    ctx.beginPath();
    ctx.arc(x, y, radius, 0, 2 * Math.PI);
    ctx.fill();
  }
  brush.strokes += 1;
}

$("brushing").addEventListener("change", (e) => {
  $("brush-area").classList.toggle("on", e.target.checked);
});
$("brush").addEventListener("pointerdown", (e) => {
  if (!$("brushing").checked || !brush.mask) return;
  brush.drawing = true;
  $("brush").setPointerCapture(e.pointerId);
  paint(e);
});
$("brush").addEventListener("pointermove", (e) => { if (brush.drawing) paint(e); });
$("brush").addEventListener("pointerup", () => { brush.drawing = false; });
$("clear-brush").addEventListener("click", () => {
  const img = $("photo-preview");
  resetBrush(img.naturalWidth, img.naturalHeight);
});

function brushedMask() {
  return new Promise((resolve) => {
    if (!brush.mask || brush.strokes === 0) { resolve(null); return; }
    brush.mask.toBlob(resolve, "image/png");
  });
}

const drop = $("drop");
drop.addEventListener("dragover", (e) => { e.preventDefault(); drop.classList.add("over"); });
drop.addEventListener("dragleave", () => drop.classList.remove("over"));
drop.addEventListener("drop", (e) => {
  e.preventDefault();
  drop.classList.remove("over");
  setPhoto(e.dataTransfer.files[0]);
});
drop.addEventListener("keydown", (e) => {
  if (e.key === "Enter" || e.key === " ") { e.preventDefault(); $("photo").click(); }
});
$("photo").addEventListener("change", (e) => setPhoto(e.target.files[0]));

// --------------------------------------------------------------------------------- styles

function describe(style) {
  const who = [style.artist, style.year].filter(Boolean).join(", ");
  const licence = style.licence || "licence unknown: the rights of its author may apply";
  return `${style.title}${who ? ` (${who})` : ""}: ${licence}` +
    (style.attribution ? `. ${style.attribution}` : "");
}

function chooseStyle(id) {
  state.style = id;
  for (const button of document.querySelectorAll(".style")) {
    button.setAttribute("aria-checked", String(button.dataset.id === id));
    button.tabIndex = button.dataset.id === id ? 0 : -1;
  }
  const style = state.styles.find((s) => s.id === id);
  $("style-terms").textContent = style ? describe(style) : "";
}

async function loadStyles(select) {
  const { styles } = await api("/api/styles");
  state.styles = styles;
  const box = $("styles");
  box.replaceChildren();
  for (const style of styles) {
    const button = document.createElement("button");
    button.type = "button";
    button.className = "style";
    button.dataset.id = style.id;
    button.setAttribute("role", "radio");
    button.setAttribute("aria-checked", "false");
    button.title = describe(style);
    const img = document.createElement("img");
    img.src = style.image;
    img.alt = "";
    img.loading = "lazy";
    const name = document.createElement("span");
    name.textContent = style.title;
    button.append(img, name);
    button.addEventListener("click", () => chooseStyle(style.id));
    box.append(button);
  }
  box.addEventListener("keydown", (e) => {
    const ids = state.styles.map((s) => s.id);
    const at = ids.indexOf(state.style);
    const step = { ArrowRight: 1, ArrowDown: 1, ArrowLeft: -1, ArrowUp: -1 }[e.key];
    if (step === undefined) return;
    e.preventDefault();
    const next = ids[(at + step + ids.length) % ids.length];
    chooseStyle(next);
    box.querySelector(`[data-id="${next}"]`).focus();
  });
  chooseStyle(select || state.style || (styles.find((s) => s.id === "starry-night") || styles[0]).id);
}

$("own-style").addEventListener("submit", async (e) => {
  e.preventDefault();
  try {
    const made = await api("/api/styles", { method: "POST", body: new FormData(e.target) });
    e.target.reset();
    await loadStyles(made.id);
    say("");
  } catch (err) { say(`The style was not added: ${err.message}`); }
});

// ---------------------------------------------------------------------------------- a job

for (const [input, out] of [["strength", "strength-out"], ["size", "size-out"],
                            ["style-scale", "scale-out"]]) {
  $(input).addEventListener("input", () => { $(out).textContent = $(input).value; });
}

function method() { return document.querySelector("input[name=method]:checked").value; }

function options(forMethod) {
  const values = { size: Number($("size").value), strength: Number($("strength").value),
                   preserve_color: $("preserve-color").value };
  if (forMethod === "optimize") values.style_scale = Number($("style-scale").value);
  if (forMethod === "optimize") values.preview_every = 10;
  return values;
}

async function submit(forMethod) {
  const form = new FormData();
  form.append("content", state.photo);
  form.append("method", forMethod);
  form.append("style_id", state.style);
  form.append("options", JSON.stringify(options(forMethod)));
  const mask = forMethod === "optimize" ? await brushedMask() : null;
  if (mask) form.append("protect", mask, "protect.png");
  return api("/api/jobs", { method: "POST", body: form });
}

function showPicture(url) {
  $("after").src = url;
  $("before").src = state.photoUrl || "";
  $("compare").hidden = false;
  $("result-empty").hidden = true;
}

function progress(fraction, text) {
  $("progress").hidden = false;
  $("bar-fill").style.width = `${Math.round(100 * fraction)}%`;
  $("progress-text").textContent = text;
}

function busy(running) {
  $("run").disabled = running;
  $("cancel").hidden = !running;
}

function follow(job) {
  return new Promise((resolve) => {
    const source = new EventSource(job.links.events);
    state.source = source;
    const end = (status) => { source.close(); state.source = null; resolve(status); };
    source.addEventListener("progress", (e) => {
      const d = JSON.parse(e.data);
      const left = d.seconds_left == null ? "" : `, about ${Math.ceil(d.seconds_left)} s left`;
      progress(d.fraction || 0, d.total_steps ? `step ${d.step} of ${d.total_steps}${left}`
                                              : `working${left}`);
    });
    source.addEventListener("preview", (e) => {
      const d = JSON.parse(e.data);
      showPicture(d.url);
      progress(d.fraction || 0, `step ${d.step} of ${d.total_steps}`);
    });
    source.addEventListener("running", () => progress(0, "started"));
    source.addEventListener("done", () => end("done"));
    source.addEventListener("failed", (e) => { say(JSON.parse(e.data).error); end("failed"); });
    source.addEventListener("cancelled", () => end("cancelled"));
  });
}

function downloadLink() {
  if (!state.done) return;
  const format = $("format").value;
  const link = $("download");
  link.href = `/api/jobs/${state.done.id}/result?format=${format}`;
  link.download = `impasto-${state.done.id}.${format}`;
}

function finished(job) {
  state.done = job;
  showPicture(`/api/jobs/${job.id}/result`);
  downloadLink();
  $("save").hidden = false;
  progress(1, "done");
}

$("format").addEventListener("change", downloadLink);

$("run").addEventListener("click", async () => {
  if (!state.photo) { say("Choose a photo first."); return; }
  if (!state.style) { say("Choose a style first."); return; }
  say("");
  busy(true);
  $("save").hidden = true;
  const chosen = method();
  try {
    if (chosen === "optimize") {  // an instant preview, then the optimiser refines it
      const instant = await submit("adain");
      state.job = instant;
      if (await follow(instant) === "done") showPicture(`/api/jobs/${instant.id}/result`);
    }
    const job = await submit(chosen);
    state.job = job;
    progress(0, "waiting for a worker");
    const status = await follow(job);
    if (status === "done") finished(job);
    else if (status === "cancelled") progress(0, "cancelled");
  } catch (err) {
    say(err.message);
  } finally {
    busy(false);
    loadGallery();
  }
});

$("cancel").addEventListener("click", async () => {
  if (!state.job) return;
  try { await api(`/api/jobs/${state.job.id}/cancel`, { method: "POST" }); }
  catch (err) { say(err.message); }
});

$("split").addEventListener("input", (e) => {
  $("before-wrap").style.clipPath = `inset(0 ${100 - e.target.value}% 0 0)`;
});

// -------------------------------------------------------------------------------- gallery

async function loadGallery() {
  try {
    const { jobs } = await api("/api/jobs?limit=24");
    const list = $("gallery");
    list.replaceChildren();
    for (const job of jobs.filter((j) => j.status === "done")) {
      const item = document.createElement("li");
      const link = document.createElement("a");
      link.href = job.links.result;
      link.download = `impasto-${job.id}.png`;
      const img = document.createElement("img");
      img.src = job.links.result;
      img.alt = `${job.method} in ${job.styles.join(" and ")}`;
      img.loading = "lazy";
      link.append(img);
      const caption = document.createElement("span");
      caption.textContent = `${job.method}: ${job.styles.join(", ")}`;
      item.append(link, caption);
      list.append(item);
    }
  } catch (err) { say(err.message); }
}

loadStyles().catch((err) => say(`The styles could not be loaded: ${err.message}`));
loadGallery();
