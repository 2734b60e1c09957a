// The Image Semantics page: preview the chosen images and, for the active tab, caption each
// (/api/caption), answer a question about it (/api/answer) or score texts against it
// (/api/match), showing each card's state and result. Clear cancels the requests in flight
// and resets the page.
const input = document.getElementById("image");
const results = document.getElementById("results");
const generate = document.getElementById("generate");
const notice = document.getElementById("notice");
const drop = document.querySelector(".drop");
let files = [];
let task = "caption";
let running = null; // the AbortController of the run in flight

function setTask(t) {
  task = t;
  for (const tab of document.querySelectorAll(".tab")) {
    const on = tab.dataset.task === t;
    tab.classList.toggle("active", on);
    tab.setAttribute("aria-selected", on);
  }
  for (const el of document.querySelectorAll(".task-fields")) {
    el.hidden = !el.dataset.task.split(" ").includes(t) || el.dataset.available === "";
  }
}

for (const tab of document.querySelectorAll(".tab")) {
  tab.addEventListener("click", () => setTask(tab.dataset.task));
}

// Show only the tabs the server has models for.
// and the languages it can translate captions into.
fetch("healthz").then((r) => r.json()).then((h) => {
  for (const tab of document.querySelectorAll(".tab")) tab.hidden = !h.tasks.includes(tab.dataset.task);
  if (!h.tasks.includes(task) && h.tasks.length > 0) setTask(h.tasks[0]);
  const select = document.getElementById("translate");
  for (const id of h.translations || []) {
    const opt = document.createElement("option");
    opt.value = id;
    opt.textContent = id.replace(/^.*opus-mt-/, "");
    select.append(opt);
  }
  document.getElementById("language-field").dataset.available = (h.translations || []).length > 0 ? "yes" : "";
  setTask(task);
}).catch(() => {});

function cardFor(file, i) {
  const card = document.createElement("div");
  card.className = "card";
  card.dataset.index = i;
  const img = document.createElement("img");
  img.alt = file.name;
  img.src = URL.createObjectURL(file);
  img.addEventListener("error", () => img.remove()); // not an image: the error says so
  const result = document.createElement("div");
  result.className = "caption";
  const meta = document.createElement("div");
  meta.className = "meta";
  meta.textContent = file.name;
  card.append(img, result, meta);
  return card;
}

function show(list) {
  files = Array.from(list);
  results.replaceChildren(...files.map(cardFor));
  notice.textContent = "";
}

input.addEventListener("change", () => show(input.files));
drop.addEventListener("dragover", (e) => { e.preventDefault(); drop.classList.add("over"); });
drop.addEventListener("dragleave", () => drop.classList.remove("over"));
drop.addEventListener("drop", (e) => { e.preventDefault(); drop.classList.remove("over"); show(e.dataTransfer.files); });
// Example images (scikit-image's public-domain samples) load as if chosen.
for (const ex of document.querySelectorAll(".example")) {
  ex.addEventListener("click", async () => {
    const blob = await (await fetch(ex.dataset.src)).blob();
    show([new File([blob], ex.dataset.src.split("/").pop(), { type: blob.type })]);
  });
}

document.addEventListener("paste", (e) => {
  const pasted = Array.from(e.clipboardData.files).filter((f) => f.type.startsWith("image/"));
  if (pasted.length > 0) show(pasted);
});

// form holds the active task's fields.
function form() {
  const f = new FormData();
  if (task === "match") {
    for (const line of document.getElementById("texts").value.split("\n")) {
      if (line.trim() !== "") f.append("text", line.trim());
    }
    return f;
  }
  if (task === "answer") f.append("question", document.getElementById("question").value.trim());
  const ids = ["beams", "min_length", "max_length", "repetition_penalty"];
  if (task === "caption") ids.push("prompt", "translate");
  for (const id of ids) {
    const v = document.getElementById(id).value.trim();
    if (v !== "") f.append(id, v);
  }
  return f;
}

// render writes one result into a card.
function render(el, body) {
  if (task === "match") {
    const list = document.createElement("ul");
    for (const m of body.matches) {
      const li = document.createElement("li");
      li.textContent = `${m.text}: match ${m.itm_prob.toFixed(4)}, cosine ${m.cosine.toFixed(4)}`;
      list.append(li);
    }
    el.replaceChildren(list);
    return;
  }
  const text = task === "answer" ? body.answer : (body.translation ?? body.caption);
  const span = document.createElement("span");
  span.textContent = text === "" ? `(empty ${task === "answer" ? "answer" : "caption"})` : text;
  const copy = document.createElement("button");
  copy.className = "copy";
  copy.textContent = "Copy";
  copy.title = "Copy to the clipboard";
  copy.addEventListener("click", () => {
    navigator.clipboard.writeText(text).then(() => { copy.textContent = "Copied"; }, () => { copy.textContent = "Copy failed"; });
  });
  el.replaceChildren(span, copy);
}

generate.addEventListener("click", async () => {
  if (files.length === 0) {
    notice.textContent = "Choose an image first.";
    return;
  }
  const controller = new AbortController();
  running = controller;
  generate.disabled = true;
  const cards = Array.from(results.querySelectorAll(".card"));
  for (const card of cards) {
    card.querySelector(".caption").textContent = "queued";
    card.querySelector(".caption").classList.remove("error");
  }
  const path = `api/${task}`;
  try {
    for (let i = 0; i < cards.length && !controller.signal.aborted; i++) {
      const result = cards[i].querySelector(".caption");
      const meta = cards[i].querySelector(".meta");
      const started = Date.now();
      const tick = setInterval(() => { result.textContent = `working ${((Date.now() - started) / 1000).toFixed(0)} s`; }, 500);
      result.textContent = "working";
      const f = form();
      f.append("image", files[i]);
      try {
        const resp = await fetch(path, { method: "POST", body: f, signal: controller.signal });
        const body = await resp.json();
        if (!resp.ok) throw new Error(body.error || resp.statusText);
        render(result, body);
        meta.textContent = `${files[i].name} · ${body.seconds.toFixed(2)} s`;
      } catch (err) {
        if (controller.signal.aborted) break;
        result.classList.add("error");
        result.textContent = err.message;
      } finally {
        clearInterval(tick);
      }
    }
  } finally {
    if (running === controller) {
      running = null;
      generate.disabled = false;
    }
  }
});

document.getElementById("clear").addEventListener("click", () => {
  if (running) running.abort();
  running = null;
  generate.disabled = false;
  input.value = "";
  files = [];
  results.replaceChildren();
  notice.textContent = "";
});
