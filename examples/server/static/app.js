// The Image Semantics page: preview the chosen images, caption each through /api/caption,
// show the caption and the time it took; Clear resets everything.
const input = document.getElementById("image");
const results = document.getElementById("results");
const generate = document.getElementById("generate");
const drop = document.querySelector(".drop");
let files = [];

function cardFor(file, i) {
  const card = document.createElement("div");
  card.className = "card";
  card.dataset.index = i;
  const img = document.createElement("img");
  img.alt = file.name;
  img.src = URL.createObjectURL(file);
  const caption = document.createElement("div");
  caption.className = "caption";
  const meta = document.createElement("div");
  meta.className = "meta";
  meta.textContent = file.name;
  card.append(img, caption, meta);
  return card;
}

function show(list) {
  files = Array.from(list).filter((f) => f.type.startsWith("image/") || f.type === "");
  results.replaceChildren(...files.map(cardFor));
}

input.addEventListener("change", () => show(input.files));
drop.addEventListener("dragover", (e) => { e.preventDefault(); drop.classList.add("over"); });
drop.addEventListener("dragleave", () => drop.classList.remove("over"));
drop.addEventListener("drop", (e) => { e.preventDefault(); drop.classList.remove("over"); show(e.dataTransfer.files); });

function options() {
  const form = new FormData();
  for (const id of ["prompt", "beams", "min_length", "max_length", "repetition_penalty"]) {
    const v = document.getElementById(id).value.trim();
    if (v !== "") form.append(id, v);
  }
  return form;
}

generate.addEventListener("click", async () => {
  if (files.length === 0) return;
  generate.disabled = true;
  const cards = results.querySelectorAll(".card");
  for (let i = 0; i < files.length; i++) {
    const caption = cards[i].querySelector(".caption");
    const meta = cards[i].querySelector(".meta");
    caption.classList.remove("error");
    caption.textContent = "…";
    const form = options();
    form.append("image", files[i]);
    try {
      const resp = await fetch("api/caption", { method: "POST", body: form });
      const body = await resp.json();
      if (!resp.ok) throw new Error(body.error || resp.statusText);
      caption.textContent = body.caption;
      meta.textContent = `${files[i].name} · ${body.seconds.toFixed(2)} s`;
    } catch (err) {
      caption.classList.add("error");
      caption.textContent = err.message;
    }
  }
  generate.disabled = false;
});

document.getElementById("clear").addEventListener("click", () => {
  input.value = "";
  files = [];
  results.replaceChildren();
});
