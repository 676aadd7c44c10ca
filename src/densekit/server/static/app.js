// densekit web page: plain DOM code, no build step. Text from the server is always inserted with
// textContent (never innerHTML), so stored documents cannot inject markup into the page.
"use strict";

const state = { collection: null, routes: new Set() };
const $ = (id) => document.getElementById(id);

async function api(method, path, body) {
  const options = { method, headers: {}, credentials: "same-origin" };
  if (body instanceof FormData) {
    options.body = body;
  } else if (body !== undefined) {
    options.headers["Content-Type"] = "application/json";
    options.body = JSON.stringify(body);
  }
  const response = await fetch(path, options);
  const data = await response.json().catch(() => ({}));
  if (!response.ok) {
    const message = (data.error && data.error.message) || response.statusText;
    throw new Error(`${response.status}: ${message}`);
  }
  return data;
}

function showError(error) {
  const box = $("error");
  box.textContent = error ? String(error.message || error) : "";
  box.hidden = !error;
}

function element(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined && text !== null) node.textContent = text;
  return node;
}

function collectionPath(suffix) {
  return `/collections/${encodeURIComponent(state.collection)}${suffix}`;
}

// --- collections and tabs ---------------------------------------------------------------------
async function loadCollections() {
  const [listing, spec] = await Promise.all([api("GET", "/collections"), api("GET", "/openapi.json")]);
  state.routes = new Set(Object.keys(spec.paths || {}));
  const select = $("collection");
  select.replaceChildren();
  for (const item of listing.collections) {
    const option = element("option", null, item.name);
    option.value = item.name;
    option.dataset.info = `${item.count} items · ${item.model || "no text model"}`;
    select.append(option);
  }
  if (!listing.collections.length) {
    $("collection-info").textContent = "no collections served";
    return;
  }
  selectCollection(select.value);
  const features = { "ask-panel": "/collections/{name}/ask", "images-panel": "/collections/{name}/images/search" };
  for (const tab of document.querySelectorAll("#tabs button")) {
    const route = features[tab.dataset.panel];
    if (route && !state.routes.has(route)) {
      tab.disabled = true;
      tab.title = "not available on this server";
    }
  }
}

function selectCollection(name) {
  state.collection = name;
  const option = [...$("collection").options].find((item) => item.value === name);
  $("collection-info").textContent = option ? option.dataset.info : "";
  loadFeatures().catch(showError);
}

// Tabs that cannot work on this collection say why (and how to make them work) instead of failing.
async function loadFeatures() {
  if (!state.routes.has("/collections/{name}/features")) return;
  const features = await api("GET", collectionPath("/features"));
  const keys = $("metadata-keys");
  keys.replaceChildren(...Object.keys(features.metadata_keys || {}).map((key) => {
    const option = element("option");
    option.value = `${key}=`;
    return option;
  }));
  for (const [feature, noticeId, formId] of [["ask", "ask-notice", "ask-form"], ["images", "images-notice", "image-form"]]) {
    const available = features[feature] && features[feature].available;
    $(noticeId).textContent = available ? "" : features[feature].why;
    $(noticeId).hidden = Boolean(available);
    for (const control of $(formId).elements) control.disabled = !available;
  }
}

// "category=business; year=2024" -> {"category": "business", "year": 2024}; "a,b" means any of.
function parseWhere(text) {
  const where = {};
  for (const part of text.split(";").map((value) => value.trim()).filter(Boolean)) {
    const position = part.indexOf("=");
    if (position < 1) throw new Error(`filter ${JSON.stringify(part)} is not key=value`);
    const key = part.slice(0, position).trim();
    const values = part.slice(position + 1).split(",").map((value) => {
      const trimmed = value.trim();
      return trimmed !== "" && !Number.isNaN(Number(trimmed)) ? Number(trimmed) : trimmed;
    });
    where[key] = values.length > 1 ? { $in: values } : values[0];
  }
  return Object.keys(where).length ? where : undefined;
}

function showPanel(panelId) {
  for (const tab of document.querySelectorAll("#tabs button")) {
    const selected = tab.dataset.panel === panelId;
    tab.setAttribute("aria-selected", String(selected));
    $(tab.dataset.panel).hidden = !selected;
  }
}

// --- search -----------------------------------------------------------------------------------
// The snippet with the query's words in <mark>: highlights are [start, end) offsets into it.
function markedSnippet(snippet, highlights) {
  const paragraph = element("p", "text");
  let position = 0;
  for (const [start, end] of highlights || []) {
    if (start < position || end > snippet.length) continue;
    paragraph.append(snippet.slice(position, start), element("mark", null, snippet.slice(start, end)));
    position = end;
  }
  paragraph.append(snippet.slice(position));
  return paragraph;
}

function renderHit(hit) {
  const item = element("li", "hit");
  item.append(element("span", "score", Number(hit.score).toFixed(3)),
              element("span", "title", hit.title || hit.parent || hit.id), element("span", "item-id", hit.id));
  item.append(markedSnippet(hit.snippet || hit.text || "", hit.snippet ? hit.highlights : []));
  if (hit.metadata && Object.keys(hit.metadata).length) {
    item.append(element("div", "meta", JSON.stringify(hit.metadata)));
  }
  return item;
}

async function runSearch(event) {
  event.preventDefault();
  showError(null);
  const query = $("search-query").value.trim();
  const mode = document.querySelector('input[name="mode"]:checked').value;
  const k = Number($("search-k").value) || 5;
  $("search-status").textContent = "searching…";
  const list = $("search-results");
  try {
    const body = { query, k, mode, where: parseWhere($("search-where").value) };
    if ($("search-group").checked) body.group = "parent";
    const result = await api("POST", collectionPath("/search"), body);
    list.replaceChildren(...result.hits.map(renderHit));
    const warnings = (result.warnings || []).join("; ");
    $("search-status").textContent = `${result.hits.length} hits (${mode})` + (warnings ? ` — ${warnings}` : "");
  } catch (error) {
    list.replaceChildren();
    $("search-status").textContent = "";
    showError(error);
  }
}

// --- question answering -----------------------------------------------------------------------
// The passage with the answer's characters wrapped in <mark>; start/end are offsets into the passage.
function highlighted(passage, answer, start, end) {
  const paragraph = element("p", "text");
  if (!(Number.isInteger(start) && Number.isInteger(end) && passage.slice(start, end) === answer)) {
    start = passage.indexOf(answer);
    end = start + answer.length;
  }
  if (start < 0 || !answer) {
    paragraph.textContent = passage;
    return paragraph;
  }
  paragraph.append(passage.slice(0, start), element("mark", null, passage.slice(start, end)), passage.slice(end));
  return paragraph;
}

async function runAsk(event) {
  event.preventDefault();
  showError(null);
  const question = $("ask-question").value.trim();
  $("ask-status").textContent = "reading…";
  const list = $("ask-results");
  try {
    const result = await api("POST", collectionPath("/ask"), { question });
    const answers = result.answers || [];
    list.replaceChildren(...answers.map((answer) => {
      const item = element("li", "hit");
      item.append(element("span", "score", Number(answer.score).toFixed(3)), element("span", "answer", answer.answer));
      const passage = answer.passage || answer.context || "";
      item.append(highlighted(passage, answer.answer || "", answer.start, answer.end));
      if (answer.id) item.append(element("div", "item-id", answer.id));
      return item;
    }));
    $("ask-status").textContent = answers.length ? `${answers.length} answers` : "no answer found";
  } catch (error) {
    list.replaceChildren();
    $("ask-status").textContent = "";
    showError(error);
  }
}

// --- images -----------------------------------------------------------------------------------
function renderImages(result) {
  const hits = result.hits || [];
  $("image-results").replaceChildren(...hits.map((hit) => {
    const figure = element("figure");
    const label = (hit.metadata && hit.metadata.file) || hit.id;
    const image = element("img");
    image.alt = label;
    image.title = hit.id;
    if (hit.thumbnail) image.src = hit.thumbnail;
    figure.append(image, element("figcaption", null, `${Number(hit.score).toFixed(3)} · ${label}`));
    return figure;
  }));
  $("image-status").textContent = `${hits.length} images`;
}

async function imageSearch(body) {
  showError(null);
  $("image-status").textContent = "searching…";
  try {
    renderImages(await api("POST", collectionPath("/images/search"), body));
  } catch (error) {
    $("image-results").replaceChildren();
    $("image-status").textContent = "";
    showError(error);
  }
}

function searchByFile(file) {
  if (!file) return;
  const form = new FormData();
  form.append("image", file);
  form.append("k", "12");
  imageSearch(form);
}

function setUpDropZone() {
  const zone = $("drop-zone");
  zone.addEventListener("click", () => $("image-file").click());
  zone.addEventListener("keydown", (event) => { if (event.key === "Enter") $("image-file").click(); });
  $("image-file").addEventListener("change", (event) => searchByFile(event.target.files[0]));
  zone.addEventListener("dragover", (event) => { event.preventDefault(); zone.classList.add("over"); });
  zone.addEventListener("dragleave", () => zone.classList.remove("over"));
  zone.addEventListener("drop", (event) => {
    event.preventDefault();
    zone.classList.remove("over");
    searchByFile(event.dataTransfer.files[0]);
  });
}

document.addEventListener("DOMContentLoaded", () => {
  $("collection").addEventListener("change", (event) => selectCollection(event.target.value));
  for (const tab of document.querySelectorAll("#tabs button")) {
    tab.addEventListener("click", () => showPanel(tab.dataset.panel));
  }
  $("search-form").addEventListener("submit", runSearch);
  $("ask-form").addEventListener("submit", runAsk);
  $("image-form").addEventListener("submit", (event) => {
    event.preventDefault();
    const form = new FormData();
    form.append("query", $("image-query").value.trim());
    form.append("k", "12");
    imageSearch(form);
  });
  setUpDropZone();
  loadCollections().catch(showError);
});
