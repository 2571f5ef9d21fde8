// The editor page: wires the canvas, the toolbar, the panels, files and the run together.
import { Editor } from "./adapter.js";
import { api } from "./api.js";
import { Extensions } from "./extensions.js";
import { acceptDrops, download, pickFile, readWorkflowFile } from "./files.js";
import { NodeLibrary } from "./library.js";
import { PacksPanel } from "./packs.js";
import { Minimap } from "./minimap.js";
import { QueuePanel, WorkflowsPanel } from "./panels.js";
import { RunProgress, mergeHandlers } from "./progress.js";
import { Runner } from "./run.js";
import { SettingsPanel, settings } from "./settings.js";
import { ask } from "./dialog.js";
import { NodeSearch } from "./search.js";
import { filterLongMenus } from "./menufilter.js";
import { showTooltips } from "./tooltips.js";
import { closeTextEditor, editText } from "./textbox.js";
import { UndoStack } from "./undo.js";
import { FALLBACK_WORKFLOW, floatInputs, isLink, loadWorkflow, newId, saveWorkflow, workflowJson, workflowText } from "./workflow.js";
import { Breadcrumb, INPUTS, OUTPUTS, boundarySchemas, convertSelection, definitionOf,
         editBoundary, innerDoc, subgraphSchemas, uniqueName } from "./subgraphs.js";
import { attachExtensions } from "./comfy_extensions.js";
import { CLIPBOARD_KEY, adoptDefinitions, withDefinitions } from "./subgraph_clipboard.js";

const STORAGE_KEY = "nodeflow.graph";
const SAVED_KEY = "nodeflow.saved"; // {name, snapshot}: what Save last wrote, for the marker
const $ = (id) => document.getElementById(id);

let editor;
let extensions;
let packsPanel;
let undo;
let base = {};
let restoring = false;
let saved = { name: null, snapshot: null }; // the saved workflow this graph is, as saved
let pointerDown = false;
let root = { nodeflow: 1, nodes: {} }; // the whole workflow (the graph shown may be inside it)
let path = []; // the subgraphs opened, outermost first: [{type, id, title, view, initial}]

function notify(message, kind = "info") {
  const toast = document.createElement("div");
  toast.className = `toast ${kind}`;
  toast.setAttribute("role", kind === "error" ? "alert" : "status");
  toast.textContent = message;
  $("toasts").append(toast);
  setTimeout(() => toast.remove(), kind === "error" ? 12000 : 3000);
}

/** The workflow file the editor holds (the shown graph put back where it belongs when it
 * is a subgraph's inside). */
function fileDoc() {
  const shown = saveWorkflow(editor, base);
  const doc = path.length ? withInside(workflowJson(shown)) : shown;
  if (path.length) doc.nodes = floatInputs(doc.nodes, editor.schemas);
  if (doc.subgraphs && typeof doc.subgraphs === "object" && !Array.isArray(doc.subgraphs)) {
    doc.subgraphs = Object.fromEntries(Object.entries(doc.subgraphs).map(([name, def]) => [
      name, def?.nodes && typeof def.nodes === "object" ? { ...def, nodes: floatInputs(def.nodes, editor.schemas) } : def]));
  }
  return doc;
}

/** `root` with the open subgraph's definition read from `shown` (plain JSON). */
function withInside(shown) {
  const frame = path.at(-1);
  const doc = structuredClone(root);
  doc.subgraphs[frame.type] = definitionOf(shown, root.subgraphs[frame.type], frame.initial);
  return doc;
}

/** The workflow file the editor holds, as plain JSON. */
function currentWorkflow() {
  return workflowJson(fileDoc());
}

function snapshot() {
  const doc = currentWorkflow();
  if (doc.ui) delete doc.ui.view; // panning and zooming are not edits
  return JSON.stringify(doc);
}

let pendingCheckpoint = null;
/** Something may have changed: one undo step once the gesture is over (a drag of a number
 * widget, a node or a link changes things many times while the pointer is down). */
function changed() {
  if (restoring || !undo || pendingCheckpoint || pointerDown) return;
  pendingCheckpoint = setTimeout(() => {
    pendingCheckpoint = null;
    if (pointerDown) return;
    if (undo.checkpoint()) editor.setDimmed([]);
    persist();
  }, 0);
}

/** Record an edit made by a keyboard shortcut now: a second press right after it is another
 * step, whatever the timers are doing. */
function settle() {
  clearTimeout(pendingCheckpoint);
  pendingCheckpoint = null;
  if (undo.checkpoint()) persist();
}

function persist() {
  localStorage.setItem(STORAGE_KEY, workflowText(fileDoc()));
  showUnsaved();
}

/** The unsaved-changes marker (beside the name and in the tab's title). */
function showUnsaved() {
  const dirty = saved.snapshot !== snapshot();
  document.body.classList.toggle("unsaved", dirty);
  const name = $("name").value || "untitled";
  breadcrumb.render(name, path);
  $("unsaved").hidden = !dirty;
  document.title = `${dirty ? "● " : ""}${name} - nodeflow`;
}

function markSaved(name) {
  saved = { name, snapshot: snapshot() };
  localStorage.setItem(SAVED_KEY, JSON.stringify(saved));
  showUnsaved();
}

/** Show `doc` on the canvas; a fresh undo history unless `keepHistory`. `savedAs`: the name
 * of the user's saved workflow that `doc` is (unchanged), if it is one. */
function openWorkflow(doc, { name, keepHistory = false, keepView = false, savedAs,
                              keepPath = false } = {}) {
  const view = editor.readView();
  const notes = doc.importNotes;
  delete doc.importNotes;
  if (name && !doc.name) doc.name = name;
  restoring = true;
  try {
    base = showLevel(doc, keepPath);
    if (keepView) editor.setView(view);
  } finally {
    restoring = false;
  }
  $("name").value = root.name ?? "";
  showImagePreviews();
  if (!keepHistory) undo?.reset();
  if (savedAs !== undefined) markSaved(savedAs);
  persist();
  for (const note of notes ?? []) notify(note.text ?? note, note.kind ?? "error");
}

/** Register `doc`'s subgraphs as node types and show its graph, or the inside of the
 * subgraph `path` leads to (while `keepPath` and it still exists). */
function showLevel(doc, keepPath) {
  root = doc;
  const local = subgraphSchemas(doc.subgraphs, editor.installed);
  const defs = doc.subgraphs;
  const broken = path.findIndex((frame) => !(frame.type in local));
  path = !keepPath ? [] : broken < 0 ? path : path.slice(0, broken);
  const frame = path.at(-1);
  editor.setLocalTypes(local, frame ? boundarySchemas(defs[frame.type],
                                                      { ...editor.installed, ...local }) : {});
  const shown = loadWorkflow(editor, frame ? innerDoc(defs[frame.type]) : doc);
  if (frame) {
    const view = editor.readView(); // the breadcrumb bar lies over the canvas's top
    editor.setView({ offset: [view.offset[0], view.offset[1] + 44 / view.scale], scale: view.scale });
    const pos = (id) => JSON.stringify(editor.readNodes().find((s) => s.id === id)?.ui.pos);
    frame.initial = { [INPUTS]: pos(INPUTS), [OUTPUTS]: pos(OUTPUTS) };
  }
  return shown;
}

/** Whether node type `type` is one of this file's subgraphs (which the editor can open). */
function isSubgraph(type) {
  return editor.schemas[type]?.subgraph === true;
}

/** Show the inside of subgraph node `id` (a subgraph of this file, not a component). */
function openSubgraph(id) {
  const spec = editor.readNodes().find((s) => s.id === id);
  if (!spec) return;
  if (!isSubgraph(spec.type)) {
    notify(`"${spec.type}" is a component (in <base>/components/): edit its file`, "error");
    return;
  }
  settle();
  const doc = currentWorkflow();
  path.push({ type: spec.type, id, title: spec.ui.title || spec.type, view: editor.readView() });
  openWorkflow(doc, { keepHistory: true, keepPath: true });
  editor.focus();
}

/** Back to the graph `depth` subgraphs deep (0: the workflow itself). */
function leaveTo(depth) {
  if (depth < 0 || depth >= path.length) return;
  settle();
  const doc = currentWorkflow();
  const view = path[depth].view;
  path = path.slice(0, depth);
  openWorkflow(doc, { keepHistory: true, keepPath: true });
  editor.setView(view);
  editor.redraw();
  editor.focus();
}

/** The selected nodes become one node of a new subgraph type, as one undo step. */
async function convertToSubgraph(ids) {
  ids = ids.filter((id) => !id.startsWith("@"));
  if (!ids.length) return;
  const name = await ask({ title: "Convert to subgraph", ok: "Convert", value: "Subgraph",
                           message: "Name of the new subgraph (its node type):" });
  editor.focus();
  if (!name) return;
  if (editor.schemas[name] || Object.keys(root.subgraphs ?? {}).includes(name) || name.startsWith("@")) {
    notify(`a node type named "${name}" exists already: choose another name`, "error");
    return;
  }
  settle();
  const level = workflowJson(saveWorkflow(editor, base));
  let result;
  try {
    result = convertSelection(level, ids, name, editor.schemas, newId);
  } catch (error) {
    notify(error.message, "error");
    return;
  }
  level.nodes = result.nodes;
  const doc = path.length ? withInside(level) : level;
  doc.subgraphs = { ...(doc.subgraphs ?? {}), [name]: result.definition };
  replaceGraph(doc, { keepView: true, keepPath: true });
  editor.select(result.id);
}

/** Rename or remove an input or output of the open subgraph (from its boundary nodes). */
async function editOpenBoundary({ kind, action, name }) {
  const frame = path.at(-1);
  if (!frame) return;
  let to = null;
  if (action === "rename") {
    to = await ask({ title: `Rename ${kind === "inputs" ? "input" : "output"}`, value: name,
                     ok: "Rename" });
    editor.focus();
    if (!to || to === name) return;
    if (to in (root.subgraphs[frame.type][kind] ?? {}) || to.startsWith("@")) {
      notify(`the subgraph has an ${kind.slice(0, -1)} named "${to}" already`, "error");
      return;
    }
  }
  settle();
  const doc = currentWorkflow();
  editBoundary(doc, frame.type, kind, name, to);
  replaceGraph(doc, { keepView: true, keepPath: true });
}

/** An inner node's input or output becomes one of the open subgraph's. */
function expose({ id, kind, name }) {
  const frame = path.at(-1);
  if (!frame) return;
  settle();
  const doc = currentWorkflow();
  const def = doc.subgraphs[frame.type];
  const node = def.nodes[id];
  if (kind === "inputs") {
    const schema = editor.schemas[node.type]?.inputs.find((i) => i.name === name);
    const unique = uniqueName(name, def.inputs ?? {});
    const entry = { type: schema?.type ?? "*" };
    const value = node.inputs?.[name];
    if (value !== undefined && !isLink(value)) entry.default = value;
    else if (schema && "default" in schema) entry.default = schema.default;
    def.inputs = { ...(def.inputs ?? {}), [unique]: entry };
    node.inputs = { ...(node.inputs ?? {}), [name]: { node: INPUTS, output: unique } };
  } else {
    const unique = uniqueName(name, def.outputs ?? {});
    def.outputs = { ...(def.outputs ?? {}), [unique]: { node: id, output: name } };
  }
  replaceGraph(doc, { keepView: true, keepPath: true });
}

function showImagePreviews() {
  for (const spec of editor.readNodes()) {
    for (const input of spec.schema?.inputs ?? []) {
      if (editor.isImageInput(spec.type, input.name) && spec.values[input.name]) {
        editor.setImages(spec.id, [api.viewUrl({ filename: spec.values[input.name], type: "input" })]);
      }
    }
  }
}

async function defaultWorkflow() {
  try {
    return await api.example("txt2img.json");
  } catch {
    return structuredClone(FALLBACK_WORKFLOW);
  }
}

/** Open, New and Clear replace the graph as one undoable step: nothing is lost to a click. */
function replaceGraph(doc, options = {}) {
  undo.checkpoint();
  openWorkflow(doc, { ...options, keepHistory: true });
  undo.checkpoint();
}

async function openFile(file) {
  try {
    replaceGraph(await readWorkflowFile(file), { name: file.name.replace(/\.(json|png)$/i, ""),
                                                 savedAs: null });
    notify(`opened ${file.name} (Ctrl+Z goes back)`);
  } catch (error) {
    notify(error.message, "error");
  }
}

/** Save under the name in the toolbar; a name never saved (or another workflow's) asks
 * first, and replacing a saved workflow that this graph is not asks to confirm. */
async function save({ as = false } = {}) {
  let name = $("name").value.trim();
  if (as || !name) {
    name = await ask({ title: "Save as", message: "Name of the workflow in your workflows folder:",
                       value: name || "untitled", ok: "Save" });
    if (!name) return;
  }
  if (name !== saved.name) {
    const existing = await api.savedWorkflows().catch(() => []);
    if (existing.includes(`${name}.json`) && !await ask({
      title: "Replace saved workflow?", ok: "Replace",
      message: `A workflow named "${name}" is already saved. Replace it with this graph?` })) {
      return;
    }
  }
  $("name").value = name;
  base.name = name;
  try {
    await api.saveWorkflow(`${name}.json`, currentWorkflow());
    markSaved(name);
    notify(`saved ${name}`);
    persist();
    library.refresh();
  } catch (error) {
    notify(`not saved: ${error.message}`, "error");
  }
}

async function upload(node, input) {
  pickFile("image/*", async (file) => {
    try {
      const stored = await api.upload(file);
      const name = stored.subfolder ? `${stored.subfolder}/${stored.name}` : stored.name;
      editor.addChoice(node, input, name);
      editor.setWidget(node, input, name);
    } catch (error) {
      notify(`upload failed: ${error.message}`, "error");
    }
  });
}

function imagePicked(id, name) {
  editor.setImages(id, name ? [api.viewUrl({ filename: name, type: "input" })] : []);
}

/** Shortcuts ComfyUI users know: Ctrl+B bypass, Ctrl+M mute, Ctrl+G group, Alt+C collapse,
 * "." zoom to fit. True when the key was one of them. */
function canvasShortcut(event) {
  const mod = event.ctrlKey || event.metaKey;
  const key = event.key.toLowerCase();
  if (mod && !event.altKey && key === "b") return editor.toggleMode("bypass") || true;
  if (mod && !event.altKey && key === "m") return editor.toggleMode("mute") || true;
  if (mod && !event.altKey && key === "g") return editor.groupSelected() || true;
  if (event.altKey && !mod && event.code === "KeyC") return editor.toggleCollapsed() || true;
  if (!mod && !event.altKey && key === ".") {
    editor.fitView();
    editor.redraw();
    return true;
  }
  return false;
}

/** Ctrl+C / Ctrl+V of subgraph nodes (seen before the canvas handles the keys): the copy
 * carries their definitions, and a paste first adds them to this workflow. */
function onClipboardKey(event) {
  const mod = event.ctrlKey || event.metaKey;
  if (!mod || event.altKey || ["INPUT", "TEXTAREA", "SELECT"].includes(event.target.tagName)) return;
  const key = event.key.toLowerCase();
  if (key === "c" && !event.shiftKey) {
    setTimeout(() => { // once the canvas has written its clipboard
      const clip = readClipboard();
      if (clip) localStorage.setItem(CLIPBOARD_KEY, JSON.stringify(withDefinitions(clip, currentWorkflow().subgraphs)));
    }, 0);
  } else if (key === "v") {
    const clip = readClipboard();
    if (!clip?.nodeflow_subgraphs) return;
    const doc = currentWorkflow();
    const { added, clip: pasted } = adoptDefinitions(clip, doc.subgraphs, new Set(Object.keys(editor.installed)));
    if (Object.keys(added).length) {
      settle();
      doc.subgraphs = { ...(doc.subgraphs ?? {}), ...added };
      openWorkflow(doc, { keepHistory: true, keepPath: true, keepView: true });
    }
    // the canvas pastes this (renamed) copy; the clipboard keeps what was copied
    localStorage.setItem(CLIPBOARD_KEY, JSON.stringify(pasted));
    setTimeout(() => localStorage.setItem(CLIPBOARD_KEY, JSON.stringify(clip)), 0);
  }
}

function readClipboard() {
  try {
    return JSON.parse(localStorage.getItem(CLIPBOARD_KEY) ?? "null");
  } catch {
    return null;
  }
}

function onKey(event) {
  const mod = event.ctrlKey || event.metaKey;
  const typing = ["INPUT", "TEXTAREA", "SELECT"].includes(event.target.tagName);
  if (mod && event.key === "Enter") {
    event.preventDefault();
    closeTextEditor();
    runner.queue();
  } else if (mod && !typing && event.key.toLowerCase() === "z") {
    event.preventDefault();
    event.shiftKey ? undo.redo() : undo.undo();
  } else if (mod && !typing && event.key.toLowerCase() === "y") {
    event.preventDefault();
    undo.redo();
  } else if (mod && event.key.toLowerCase() === "s") {
    event.preventDefault();
    save({ as: event.shiftKey });
  } else if (event.key === "Escape" && path.length && !typing &&
             !document.querySelector(".dialog-veil, .litecontextmenu")) {
    leaveTo(path.length - 1);
  } else if (!typing && canvasShortcut(event)) {
    event.preventDefault();
    settle();
  } else if (mod && event.key.toLowerCase() === "o") {
    event.preventDefault();
    pickFile(".json,.png,application/json,image/png", openFile);
  } else if (!typing && (event.target === document.body || event.target.tagName === "BUTTON")) {
    editor.handleKey(event); // canvas shortcuts work before the canvas was ever clicked
  }
}

const library = new WorkflowsPanel($("workflows"), {
  open: (doc, name, kind) => replaceGraph(doc, { name, savedAs: kind === "saved" ? name : null }),
  notify });
const queuePanel = new QueuePanel($("queue"), {
  notify, restore: (doc) => replaceGraph(structuredClone(doc), { savedAs: null }) });
const breadcrumb = new Breadcrumb($("breadcrumb"), (depth) => leaveTo(depth));
const nodeSearch = new NodeSearch(() => editor.schemas);
let runner;

/** "N seeds across workers" next to the queue button, only on a server with a cluster. */
async function showFanOut() {
  try {
    const stats = await api.systemStats();
    $("fan-out").hidden = !Array.isArray(stats.nodeflow?.worker?.workers);
  } catch {
    $("fan-out").hidden = true;
  }
}

async function fetchSchemas() {
  const info = await api.objectInfo();
  return Object.fromEntries(Object.entries(info).map(([type, item]) => [type, item.nodeflow]));
}

/** Packs that failed to load: a toolbar warning that opens the list (pack, one-line reason). */
async function showPackFailures(failures) {
  failures ??= (await api.nodeflowInfo()).errors ?? [];
  const button = $("pack-errors");
  button.hidden = failures.length === 0;
  button.textContent = `${failures.length} node pack${failures.length === 1 ? "" : "s"} failed`;
  const list = $("pack-errors-list");
  list.replaceChildren(...failures.map((f) => {
    const item = document.createElement("li");
    const name = document.createElement("strong");
    name.textContent = f.pack;
    item.append(name, ` (${f.origin}): ${f.reason}`);
    return item;
  }));
}

/** The server reloaded node packs (serve --dev): the packs' editor extensions and the node
 * definitions again, and the graph redrawn with them. */
async function nodesChanged(data) {
  try {
    await extensions.reload();
    const schemas = await fetchSchemas();
    editor.registerTypes(schemas);
    extensions.typesRegistered(schemas);
    openWorkflow(currentWorkflow(), { keepHistory: true, keepView: true, keepPath: true });
    await showPackFailures(data?.failures);
    if (document.body.classList.contains("show-packs")) packsPanel.refresh();
    notify("node definitions reloaded");
  } catch (error) {
    notify(`could not reload node definitions: ${error.message}`, "error");
  }
}

async function start() {
  let schemas;
  try {
    schemas = await fetchSchemas();
  } catch (error) {
    notify(`cannot reach the server: ${error.message}`, "error");
    return;
  }
  const search = (request) => nodeSearch.open({ ...request, place: (type) => {
    request.place(type);
    editor.focus();
  } });
  editor = new Editor($("canvas"), {
    changed, upload, editText, imagePicked, newId, search, openSubgraph, convertToSubgraph,
    canOpen: isSubgraph, inside: () => path.length > 0,
    editBoundary: editOpenBoundary, expose });
  extensions = new Extensions({ editor, notify });
  await extensions.load();
  editor.registerTypes(schemas);
  extensions.typesRegistered(schemas);
  await attachExtensions(editor, schemas);
  showPackFailures().catch((error) => notify(error.message, "error"));
  undo = new UndoStack({
    snapshot,
    restore: (text) => {
      openWorkflow(JSON.parse(text), { keepHistory: true, keepView: true, keepPath: true });
    },
  });
  runner = new Runner({ editor, workflow: currentWorkflow, notify, atRoot: () => !path.length,
                        onResults: () => queuePanel.refresh(),
                        onQueueChanged: () => queuePanel.refresh(),
                        fanOutCount: () => ($("fan-out").hidden ? 1
                          : Math.min(64, Math.max(1, Math.floor(Number($("fan-out-count").value) || 1)))) });
  showFanOut();
  editor.resize();
  const stored = localStorage.getItem(STORAGE_KEY);
  let doc = null;
  try {
    doc = stored ? JSON.parse(stored) : null;
  } catch {
    doc = null;
  }
  try {
    saved = JSON.parse(localStorage.getItem(SAVED_KEY)) ?? saved;
  } catch {
    saved = { name: null, snapshot: null };
  }
  if (doc) {
    openWorkflow(doc);
  } else {
    openWorkflow(await defaultWorkflow(), { savedAs: null });
  }

  document.addEventListener("keydown", onKey);
  document.addEventListener("keydown", onClipboardKey, { capture: true });
  document.addEventListener("pointerdown", () => { pointerDown = true; }, true);
  // capture: the canvas stops some pointer events from bubbling; changed() waits a tick, so
  // what the canvas does with this release (a link dropped, say) is in the snapshot
  document.addEventListener("pointerup", () => {
    pointerDown = false;
    changed();
  }, true);
  document.addEventListener("pointercancel", () => { pointerDown = false; }, true);
  document.addEventListener("keyup", changed);
  acceptDrops(document, openFile);
  window.addEventListener("resize", () => editor.resize());
  editor.resize();

  $("queue-button").onclick = () => runner.queue();
  $("interrupt").onclick = () => runner.interrupt();
  $("add-node").onclick = () => editor.openSearch();
  $("undo").onclick = () => undo.undo();
  $("redo").onclick = () => undo.redo();
  $("save").onclick = () => save();
  $("save-as").onclick = () => save({ as: true });
  $("download").onclick = () => download(fileDoc(), $("name").value || "workflow");
  $("open").onclick = () => pickFile(".json,.png,application/json,image/png", openFile);
  $("new").onclick = async () => replaceGraph(await defaultWorkflow(), { savedAs: null });
  $("clear").onclick = () => replaceGraph({ nodeflow: 1, nodes: {} }, { savedAs: null });
  $("name").onchange = () => {
    root.name = $("name").value;
    if (!path.length) base.name = root.name;
    persist();
  };
  $("zoom-fit").onclick = () => { editor.fitView(); editor.redraw(); };
  filterLongMenus(document.body);
  showTooltips($("canvas"), (x, y) => editor.describeAt(x, y));
  for (const button of document.querySelectorAll("[data-panel]")) {
    button.onclick = () => document.body.classList.toggle(`show-${button.dataset.panel}`);
  }

  $("pack-errors").onclick = () => document.body.classList.toggle("show-pack-errors");
  packsPanel = new PacksPanel($("packs"), { notify });
  $("packs-button").addEventListener("click", () => {
    if (document.body.classList.contains("show-packs")) packsPanel.refresh();
  });

  // -- side panels (node library, settings, minimap, overall progress): each module's own job
  new NodeLibrary($("library"), { editor, button: $("library-button") });
  new SettingsPanel($("settings-panel"), $("settings-button"));
  const minimap = new Minimap($("minimap"), editor);
  settings.watch((key, value) => {
    if (key === "minimap") minimap.visible = value;
    if (key === "linkStyle") editor.setLinkStyle(value);
    if (key === "snapToGrid") editor.setSnapToGrid(value);
    if (key === "seedControl") editor.setDefaultControl(value);
  });
  const progress = new RunProgress($("run-progress"));
  new ResizeObserver(() => editor.resize()).observe($("canvas-box")); // panels open and close
  // -- end of side panels

  api.connect({ ...mergeHandlers(runner.handlers(), progress.handlers()),
                "nodeflow.nodes_changed": nodesChanged,
                open: () => { $("status").textContent = "connected"; queuePanel.refresh(); },
                close: () => { $("status").textContent = "reconnecting…"; } });
  library.refresh();
  editor.focus();
  window.nodeflow = { editor, undo, currentWorkflow, openWorkflow, runner, // tests, console
                      get extensions() { return extensions.loaded; } };
  document.body.dataset.ready = "true";
}

start();
