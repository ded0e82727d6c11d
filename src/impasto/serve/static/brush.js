// The brush on the photo (loaded before app.js). Two masks: "keep" (red), the region kept as
// it is (method optimize's protect mask), and "region" (blue), where the second style goes
// (the rest of the picture takes the first). Each mask is a transparent canvas with white
// strokes at the photo's shape (at most 1024 px on its long side), sent as a black and white
// PNG. The canvas over the photo shows both, half transparent (style.css).
"use strict";

const BRUSHES = ["keep", "region"];
const BRUSH_COLOURS = { keep: "#b5452b", region: "#2b6cb5" };
const brush = { masks: {}, strokes: { keep: 0, region: 0 }, drawing: false };

function brushCanvas() { return document.getElementById("brush"); }

function brushMode() {
  const chosen = document.querySelector("input[name=brush]:checked");
  return chosen && !chosen.disabled ? chosen.value : "off";
}

function resetBrush(width, height) {
  const scale = Math.min(1, 1024 / Math.max(width, height));
  const canvas = brushCanvas();
  canvas.width = Math.round(width * scale);
  canvas.height = Math.round(height * scale);
  for (const which of BRUSHES) {
    const mask = document.createElement("canvas");
    mask.width = canvas.width;
    mask.height = canvas.height;
    brush.masks[which] = mask;
    brush.strokes[which] = 0;
  }
  redrawBrush();
}

function clearBrush(which) {
  const mask = brush.masks[which];
  if (!mask) return;
  mask.getContext("2d").clearRect(0, 0, mask.width, mask.height);
  brush.strokes[which] = 0;
  redrawBrush();
}

function redrawBrush() {
  const canvas = brushCanvas();
  const ctx = canvas.getContext("2d");
  ctx.clearRect(0, 0, canvas.width, canvas.height);
  for (const which of BRUSHES) {
    const mask = brush.masks[which];
    if (!mask || brush.strokes[which] === 0) continue;
    const tint = document.createElement("canvas");
    tint.width = canvas.width;
    tint.height = canvas.height;
    const t = tint.getContext("2d");
    t.drawImage(mask, 0, 0);
    t.globalCompositeOperation = "source-in";  // the strokes' shape in the brush's colour
    t.fillStyle = BRUSH_COLOURS[which];
    t.fillRect(0, 0, tint.width, tint.height);
    ctx.drawImage(tint, 0, 0);
  }
}

function paint(e) {
  const which = brushMode();
  const canvas = brushCanvas();
  const box = canvas.getBoundingClientRect();
  const x = (e.clientX - box.left) * canvas.width / box.width;
  const y = (e.clientY - box.top) * canvas.height / box.height;
  const radius = Math.max(4, canvas.width / 30);
  for (const [ctx, colour] of [[canvas.getContext("2d"), BRUSH_COLOURS[which]],
                               [brush.masks[which].getContext("2d"), "#fff"]]) {
    ctx.fillStyle = colour;
    ctx.beginPath();
    ctx.arc(x, y, radius, 0, 2 * Math.PI);
    ctx.fill();
  }
  brush.strokes[which] += 1;
}

// A mask as a PNG blob, white where brushed on black; null when nothing is brushed.
function brushedMask(which) {
  return new Promise((resolve) => {
    const mask = brush.masks[which];
    if (!mask || brush.strokes[which] === 0) { resolve(null); return; }
    const out = document.createElement("canvas");
    out.width = mask.width;
    out.height = mask.height;
    const o = out.getContext("2d");
    o.fillStyle = "#000";
    o.fillRect(0, 0, out.width, out.height);
    o.drawImage(mask, 0, 0);
    out.toBlob(resolve, "image/png");
  });
}

function brushModeChanged() {
  const mode = brushMode();
  document.getElementById("brush-area").classList.toggle("on", mode !== "off");
  document.getElementById("clear-brush").textContent =
    { off: "Clear both", keep: "Clear the red region", region: "Clear the blue region" }[mode];
}

for (const radio of document.querySelectorAll("input[name=brush]")) {
  radio.addEventListener("change", brushModeChanged);
}
brushCanvas().addEventListener("pointerdown", (e) => {
  if (brushMode() === "off" || !brush.masks.keep) return;
  brush.drawing = true;
  brushCanvas().setPointerCapture(e.pointerId);
  paint(e);
});
brushCanvas().addEventListener("pointermove", (e) => { if (brush.drawing) paint(e); });
brushCanvas().addEventListener("pointerup", () => { brush.drawing = false; });
brushCanvas().addEventListener("pointercancel", () => { brush.drawing = false; });
document.getElementById("clear-brush").addEventListener("click", () => {
  const mode = brushMode();
  for (const which of mode === "off" ? BRUSHES : [mode]) clearBrush(which);
});
brushModeChanged();
