// The impasto web page: a photo (or a video) and a style in, the job followed by server-sent
// events, the picture (or video) out. Plain JavaScript, no build step, nothing fetched from
// anywhere but this server. brush.js (loaded first) holds the brush on the photo.
"use strict";

const $ = (id) => document.getElementById(id);
const state = { photo: null, kind: "picture", style: null, styles: [], job: null, source: null,
                photoUrl: null };

function say(text) { $("message").textContent = text || ""; }

// -------------------------------------------------------------------------------- API key
// A service started with --api-key answers 401 without one: the page then asks for it, keeps
// it in this browser (localStorage) and sends it as X-API-Key with every request; what the
// browser fetches by itself (EventSource, <img>, download links: GET requests only) carries
// it as ?key=.

const KEY_STORE = "impasto.apiKey";

function apiKey() {
  try { return localStorage.getItem(KEY_STORE) || ""; } catch (_) { return ""; }
}

function keepKey(key) {
  try {
    if (key) localStorage.setItem(KEY_STORE, key); else localStorage.removeItem(KEY_STORE);
  } catch (_) { /* storage refused: the key is then forgotten with the page */ }
}

function withKey(url) {
  const key = apiKey();
  if (!key || !url) return url;
  return `${url}${url.includes("?") ? "&" : "?"}key=${encodeURIComponent(key)}`;
}

function askForKey(text) {
  $("key-form").hidden = false;
  $("key-change").hidden = true;
  $("key-message").textContent = text;
  if (!$("key-form").contains(document.activeElement)) $("api-key").focus();
}

async function api(path, options = {}) {
  const headers = { ...(options.headers || {}) };
  if (apiKey()) headers["X-API-Key"] = apiKey();
  const response = await fetch(path, { ...options, headers });
  if (!response.ok) {
    let detail = `${response.status} ${response.statusText}`;
    try { detail = (await response.json()).detail || detail; } catch (_) { /* not JSON */ }
    if (typeof detail !== "string") detail = JSON.stringify(detail);
    if (response.status === 401) {
      detail = apiKey() ? "The API key was not accepted: check it and enter it again."
                        : "This service needs an API key: enter the one you were given.";
      askForKey(detail);
    }
    throw new Error(detail);
  }
  return response.status === 204 ? null : response.json();
}

$("key-form").addEventListener("submit", async (e) => {
  e.preventDefault();
  keepKey($("api-key").value.trim());
  $("key-message").textContent = "Checking the key…";
  try {
    await loadStyles();
  } catch (err) {  // still in the key form: what was wrong
    $("key-message").textContent = err.message;
    return;
  }
  $("key-form").hidden = true;
  $("key-change").hidden = false;
  $("api-key").value = "";
  say("");
  loadGallery();
});
$("key-change").addEventListener("click", () => askForKey(""));
$("key-change").hidden = !apiKey();

// ---------------------------------------------------------------------------------- photo

// A video (or an animated GIF) by its type, or by its name where the browser gives no type
// (the service decides by the bytes).
const VIDEO_NAME = /\.(mp4|m4v|mov|webm|mkv|gif)$/i;

function isVideo(file) {
  return file.type.startsWith("video/") || file.type === "image/gif" ||
    (!file.type.startsWith("image/") && VIDEO_NAME.test(file.name));
}

function setPhoto(file) {
  if (!file) return;
  const video = isVideo(file);
  if (!video && !file.type.startsWith("image/")) {
    say(`${file.name} is not a picture or a video`);
    return;
  }
  state.photo = file;
  state.kind = video ? "video" : "picture";
  if (state.photoUrl) URL.revokeObjectURL(state.photoUrl);
  state.photoUrl = URL.createObjectURL(file);
  const clip = $("clip-preview");
  const img = $("photo-preview");
  if (video) {  // played as it is (a GIF in the picture's place); a video is painted whole
    const gif = file.type === "image/gif";
    clip.hidden = gif;
    if (gif) clip.removeAttribute("src"); else clip.src = state.photoUrl;
    img.onload = null;
    if (gif) img.src = state.photoUrl; else img.removeAttribute("src");
    img.alt = gif ? `Your animation: ${file.name}` : "";
    $("brush-area").hidden = !gif;
    $("brush").hidden = true;
    $("brush-tools").hidden = true;
    $("brush-off").checked = true;
    brushModeChanged();
  } else {
    clip.removeAttribute("src");
    clip.hidden = true;
    img.onload = () => resetBrush(img.naturalWidth, img.naturalHeight);
    img.src = state.photoUrl;
    img.alt = `Your photo: ${file.name}`;
    $("brush-area").hidden = false;
    $("brush").hidden = false;
    $("brush-tools").hidden = false;
  }
  $("drop-text").textContent = file.name;
  methodChanged();
  say("");
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
  // A painting with a trained network of its own can be painted by it (the cleanest instant
  // picture); any other style cannot.
  const trained = Boolean(style && style.network);
  const radio = document.querySelector("input[name=method][value=network]");
  radio.disabled = !trained;
  $("network-help").textContent = trained
    ? "this painting's own trained network: the cleanest instant picture"
    : "for the paintings marked \u2726, which have a trained network of their own";
  if (!trained && radio.checked) {
    document.querySelector("input[name=method][value=adain]").checked = true;
    methodChanged();
  }
}

// The second style, for the region brushed in blue: a list of the same styles.
function fillRegionStyles() {
  const select = $("region-style");
  const kept = select.value;
  select.replaceChildren(new Option("None", ""));
  for (const style of state.styles) select.append(new Option(style.title, style.id));
  select.value = state.styles.some((s) => s.id === kept) ? kept : "";
  regionTerms();
}

function regionTerms() {
  const style = state.styles.find((s) => s.id === $("region-style").value);
  $("region-terms").textContent = style ? describe(style) : "";
  return style;
}

$("region-style").addEventListener("change", () => {
  if (regionTerms() && brushMode() === "off" && !$("brushing-region").disabled) {
    $("brushing-region").checked = true;  // the next thing to do: brush where it goes
    brushModeChanged();
  }
});

$("styles").addEventListener("keydown", (e) => {
  const ids = state.styles.map((s) => s.id);
  const at = ids.indexOf(state.style);
  const step = { ArrowRight: 1, ArrowDown: 1, ArrowLeft: -1, ArrowUp: -1 }[e.key];
  if (step === undefined || !ids.length) return;
  e.preventDefault();
  const next = ids[(at + step + ids.length) % ids.length];
  chooseStyle(next);
  $("styles").querySelector(`[data-id="${next}"]`).focus();
});

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
    img.src = withKey(style.image);
    img.alt = "";
    img.loading = "lazy";
    const name = document.createElement("span");
    name.textContent = style.title;
    button.append(img, name);
    if (style.network) {
      const mark = document.createElement("span");
      mark.className = "trained";
      mark.textContent = "\u2726";
      mark.title = "has a trained network of its own (Instant, trained)";
      mark.setAttribute("aria-label", "has a trained network");
      button.append(mark);
    }
    button.addEventListener("click", () => chooseStyle(style.id));
    box.append(button);
  }
  fillRegionStyles();
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

// A trained network paints its own style, and a video is painted whole: no second style with
// either.
function methodChanged() {
  const network = method() === "network";
  const video = state.kind === "video";
  $("region-style").disabled = network || video;
  $("brushing-region").disabled = network || video;
  $("style-scale").disabled = method() !== "optimize";  // the optimiser's alone
  $("region-help").textContent = video
    ? "A video is painted whole in one style: a second style in a region goes with photos."
    : network
    ? "A trained network paints its own style: a second style goes with the other methods."
    : "Brush where it goes on the photo (the blue brush); the rest of the picture takes the " +
      "style above.";
  $("best-help").textContent = video
    ? "paints each frame step by step from the one before: many minutes"
    : "paints the picture step by step: an instant preview first, then minutes";
  brushModeChanged();
}

for (const radio of document.querySelectorAll("input[name=method]")) {
  radio.addEventListener("change", methodChanged);
}
methodChanged();

function options(forMethod) {
  const values = { size: Number($("size").value), strength: Number($("strength").value),
                   preserve_color: $("preserve-color").value };
  if (forMethod === "optimize") values.style_scale = Number($("style-scale").value);
  // A video's previews are its frames as they are made, not the optimiser's steps.
  if (forMethod === "optimize" && state.kind === "picture") values.preview_every = 10;
  // A video this browser plays: MP4 (H.264, AAC), else WebM (VP9, Opus).
  if (state.kind === "video" && !document.createElement("video").canPlayType(
    'video/mp4; codecs="avc1.64001E, mp4a.40.2"')) values.format = "webm";
  return values;
}

async function submit(forMethod) {
  const form = new FormData();
  form.append("content", state.photo);
  form.append("method", forMethod);
  form.append("style_id", state.style);
  form.append("options", JSON.stringify(options(forMethod)));
  const picture = state.kind === "picture";  // masks go with photos only
  const mask = forMethod === "optimize" && picture ? await brushedMask("keep") : null;
  if (mask) form.append("protect", mask, "protect.png");
  const second = forMethod === "network" || !picture ? "" : $("region-style").value;
  const region = second ? await brushedMask("region") : null;
  if (region) {
    form.append("region_style_id", second);
    form.append("region", region, "region.png");
  }
  return api("/api/jobs", { method: "POST", body: form });
}

// A picture with the before/after slider; a video's latest frame alone (no slider: the
// photo under it would be one frame of many).
function showPicture(url, kind) {
  const video = kind === "video";
  if (video) {
    $("frame").src = url;
    $("frame").hidden = false;
    $("result-video").hidden = true;
  } else {
    $("after").src = url;
    $("before").src = state.photoUrl || "";
  }
  $("video-result").hidden = !video;
  $("compare").hidden = video;
  $("result-empty").hidden = true;
}

// What the progress bar says: the frame of a video, the step of an optimisation.
function stepText(d) {
  const left = d.seconds_left == null ? "" : `, about ${Math.ceil(d.seconds_left)} s left`;
  if (d.stage === "frame") return `frame ${d.frame} of ${d.frames}${left}`;
  return d.total_steps ? `step ${d.step} of ${d.total_steps}${left}` : `working${left}`;
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
    const source = new EventSource(withKey(job.links.events));
    state.source = source;
    const end = (status) => { source.close(); state.source = null; resolve(status); };
    source.addEventListener("error", () => {
      if (source.readyState !== EventSource.CLOSED) return;  // it reconnects by itself
      api(job.links.self).then((now) => {  // refused (a key no longer valid?) or gone
        say(`The job's progress could not be followed (it is ${now.status}).`);
        end(now.status === "done" ? "done" : "lost");
      }).catch((err) => { say(err.message); end("lost"); });
    });
    source.addEventListener("progress", (e) => {
      const d = JSON.parse(e.data);
      progress(d.fraction || 0, stepText(d));
    });
    source.addEventListener("preview", (e) => {
      const d = JSON.parse(e.data);
      showPicture(withKey(d.url), job.kind);
      progress(d.fraction || 0, stepText(d));
    });
    source.addEventListener("running", () => progress(0, "started"));
    source.addEventListener("done", () => end("done"));
    source.addEventListener("failed", (e) => { say(JSON.parse(e.data).error); end("failed"); });
    source.addEventListener("cancelled", () => end("cancelled"));
  });
}

function downloadLink() {
  if (!state.done) return;
  const video = state.done.kind === "video";  // a video in the format it was made in
  const format = video ? state.done.video.format : $("format").value;
  const link = $("download");
  link.href = withKey(`/api/jobs/${state.done.id}/result${video ? "" : `?format=${format}`}`);
  link.download = `impasto-${state.done.id}.${format}`;
  $("format-choice").hidden = video;
}

function finished(job) {
  state.done = job;
  if (job.kind === "video") {  // the player in the latest frame's place
    const player = $("result-video");
    player.src = withKey(`/api/jobs/${job.id}/result`);
    player.hidden = false;
    $("frame").hidden = true;
    $("video-result").hidden = false;
    $("compare").hidden = true;
    $("result-empty").hidden = true;
  } else {
    showPicture(withKey(`/api/jobs/${job.id}/result`), job.kind);
  }
  downloadLink();
  $("save").hidden = false;
  progress(1, "done");
}

$("format").addEventListener("change", downloadLink);

$("run").addEventListener("click", async () => {
  if (!state.photo) { say("Choose a photo first."); return; }
  if (!state.style) { say("Choose a style first."); return; }
  const second = method() === "network" || state.kind === "video" ? ""
    : $("region-style").value;
  if (second && brush.strokes.region === 0) {
    say("Brush where the second style goes (the blue brush, under 1. Photo), or set the " +
        "second style to None.");
    return;
  }
  if (!second && brush.strokes.region > 0 && state.kind === "picture") {
    say("Choose the second style for the blue region (under 2. Style), or clear it.");
    return;
  }
  say("");
  busy(true);
  $("save").hidden = true;
  const chosen = method();
  try {
    if (chosen === "optimize" && state.kind === "picture") {  // an instant preview, then
      // the optimiser refines it: by the painting's own network where it has one (the
      // cleanest instant picture) and no second style is brushed in, else by AdaIN
      const painting = state.styles.find((s) => s.id === state.style);
      const trained = painting && painting.network && !$("region-style").value;
      const instant = await submit(trained ? "network" : "adain");
      state.job = instant;
      if (await follow(instant) === "done") {
        showPicture(withKey(`/api/jobs/${instant.id}/result`), "picture");
      }
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
      const video = job.kind === "video";  // its first frame as a still; the link, the video
      const item = document.createElement("li");
      const link = document.createElement("a");
      link.href = withKey(job.links.result);
      link.download = `impasto-${job.id}.${video ? job.video.format : "png"}`;
      const img = document.createElement("img");
      img.src = withKey(video ? job.links.poster : job.links.result);
      const styles = job.region_style
        ? `${job.styles[0]}, with ${job.styles[job.region_style - 1]} in a brushed region`
        : job.styles.join(" and ");
      img.alt = `${video ? "A video, " : ""}${job.method} in ${styles}`;
      img.loading = "lazy";
      link.append(img);
      const caption = document.createElement("span");
      if (video) {
        const badge = document.createElement("span");
        badge.className = "badge";
        badge.textContent = "video";
        caption.append(badge);
      }
      caption.append(`${job.method}: ${styles}`);
      item.append(link, caption);
      list.append(item);
    }
  } catch (err) { say(err.message); }
}

async function start() {
  try {
    await loadStyles();
  } catch (err) {
    say(`The styles could not be loaded: ${err.message}`);
    return;
  }
  loadGallery();
}

start();
