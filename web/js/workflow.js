// The workflow file (format version 1, DESIGN.md) <-> the editor's node specs.
// Loading keeps what the editor does not show (unknown inputs, extra "ui" keys, top-level
// fields), and saving a loaded graph without edits gives back the same file.

import { memberOf } from "./families.js";

const NODE_UI_KEYS = ["pos", "size", "title", "collapsed", "pinned", "color", "bgcolor",
                      "controls", "reroutes", "widgets", "comfy_widgets"];

export function isWorkflow(data) {
  return data && typeof data === "object" && !Array.isArray(data) && "nodeflow" in data;
}

export function isLink(value) {
  return value && typeof value === "object" && !Array.isArray(value) &&
    typeof value.node === "string" && typeof value.output === "string" &&
    Object.keys(value).length === 2;
}

/** Put `doc` on the editor's canvas (which is cleared first). */
export function loadWorkflow(editor, doc) {
  if (!isWorkflow(doc) || doc.nodeflow !== 1 || typeof doc.nodes !== "object") {
    throw new Error("not a nodeflow workflow (version 1)");
  }
  editor.clear();
  const specs = Object.entries(doc.nodes).map(([id, node]) => nodeSpec(editor, doc, id, node));
  editor.layout(specs);
  for (const spec of specs) editor.createNode(spec);
  for (const spec of specs) {
    for (const [input, link] of Object.entries(spec.links)) {
      if (!editor.connect(link.node, link.output, spec.id, input)) {
        spec.meta.unlinked[input] = link; // a link the canvas cannot draw is kept as it is
      } else if (Array.isArray(spec.ui.reroutes?.[input])) {
        editor.addReroutes(spec.id, input, spec.ui.reroutes[input]);
      }
    }
  }
  for (const spec of editor.readNodes()) spec.meta.geometry = geometry(spec);
  for (const group of doc.ui?.groups ?? []) editor.addGroup(group);
  editor.setView(doc.ui?.view);
  const base = { ...doc, nodes: undefined };
  base.signature = null;
  base.signature = signature(editor);
  editor.redraw();
  return base;
}

function nodeSpec(editor, doc, id, node) {
  const schema = editor.schemas[node.type];
  const inputs = node.inputs ?? {};
  const known = new Set(schema?.inputs.map((i) => i.name) ?? Object.keys(inputs));
  // family members have slots, not widgets: a literal one stays as the file has it
  for (const [name, value] of Object.entries(inputs)) {
    if (isLink(value) && memberOf(schema, name)) known.add(name);
  }
  const values = {};
  const links = {};
  const extra = {};
  // a node that takes inputs of any name (a ComfyUI pack's LoRA stack): a value of an
  // undeclared one goes to the extension widget of that name, a link to a socket of its own
  const anyName = !!schema?.extra_inputs;
  const named = {};
  for (const [name, value] of Object.entries(inputs)) {
    if (!known.has(name) && anyName) (isLink(value) ? links : named)[name] = value;
    else if (!known.has(name)) extra[name] = value;
    else if (isLink(value)) links[name] = value;
    else values[name] = value;
  }
  const outputNames = schema ? [] : [...new Set(Object.values(doc.nodes).flatMap(
    (other) => Object.values(other.inputs ?? {}).filter((v) => isLink(v) && v.node === id)
      .map((v) => v.output)))];
  const ui = node.ui ?? {};
  return {
    id, type: node.type, version: node.version, values, links, outputNames, mode: node.mode,
    controls: ui.controls ?? {},
    ui: { pos: ui.pos, size: ui.size, title: ui.title, collapsed: ui.collapsed,
          pinned: ui.pinned, color: ui.color, bgcolor: ui.bgcolor, reroutes: ui.reroutes ?? {},
          widgets: anyName ? { ...(ui.widgets ?? {}), ...named } : ui.widgets,
          comfyWidgets: ui.comfy_widgets },
    meta: { loaded: node, order: Object.keys(inputs), extra, unlinked: {}, geometry: null },
  };
}

/** The workflow file for what the editor holds; `base` is what loadWorkflow returned. */
export function saveWorkflow(editor, base = {}) {
  editor.assignIds(newId);
  const nodes = {};
  for (const spec of editor.readNodes()) nodes[spec.id] = nodeEntry(spec, spec.meta ?? {});
  const doc = {};
  for (const key of ["nodeflow", "name", "description", "requires"]) {
    if (base[key] !== undefined) doc[key] = base[key];
  }
  doc.nodeflow = 1;
  for (const [key, value] of Object.entries(base)) {
    if (!(key in doc) && !["nodes", "ui", "signature"].includes(key) && value !== undefined) {
      doc[key] = value;
    }
  }
  doc.nodes = nodes;
  const ui = { ...(base.ui ?? {}), groups: editor.readGroups(), view: editor.readView() };
  const unchanged = base.signature && base.signature === signature(editor);
  if (unchanged && base.ui === undefined) return order(doc);
  doc.ui = unchanged ? base.ui : ui;
  return order(doc);
}

function order(doc) {
  const keys = ["nodeflow", "name", "description", "requires", "nodes", "ui"];
  const out = {};
  for (const key of keys) if (key in doc) out[key] = doc[key];
  for (const key of Object.keys(doc)) if (!(key in out)) out[key] = doc[key];
  return out;
}

function signature(editor) {
  return JSON.stringify([editor.readGroups(), editor.readView()]);
}

function geometry(spec) {
  const { pos, size, title, collapsed, pinned, color, bgcolor, reroutes, widgets } = spec.ui;
  return JSON.stringify([pos, size, title, collapsed, pinned, color ?? null, bgcolor ?? null,
                         spec.controls, reroutes ?? {}, widgets ?? {}]);
}

function nodeEntry(spec, meta) {
  const loaded = meta.loaded;
  const entry = { type: spec.type };
  const version = spec.version ?? spec.schema?.version; // pins what it was made with
  if (version !== undefined) entry.version = version;
  entry.inputs = inputsOf(spec, meta);
  if (spec.mode) entry.mode = spec.mode;
  const ui = uiOf(spec, meta);
  if (ui !== undefined) entry.ui = ui;
  if (loaded && loaded.inputs === undefined && Object.keys(entry.inputs).length === 0) {
    delete entry.inputs;
  }
  return entry;
}

function inputsOf(spec, meta) {
  const loaded = meta.loaded;
  const schemaInputs = spec.schema?.inputs ?? [];
  const all = { ...spec.values, ...spec.links, ...(meta.unlinked ?? {}), ...(meta.extra ?? {}) };
  const wanted = (name) => {
    if (name in spec.links || name in (meta.unlinked ?? {}) || name in (meta.extra ?? {})) {
      return true;
    }
    if (!loaded || spec.missing) return true; // a new node names every value
    if (meta.order.includes(name)) return true;
    const input = schemaInputs.find((i) => i.name === name);
    return !input || !sameValue(all[name], input.default);
  };
  const names = [...(meta.order ?? []), ...schemaInputs.map((i) => i.name),
                 ...Object.keys(all)];
  const inputs = {};
  for (const name of names) {
    if (name in inputs || !(name in all) || !wanted(name)) continue;
    const input = schemaInputs.find((i) => i.name === name);
    inputs[name] = input?.type === "FLOAT" && typeof all[name] === "number"
      ? new FloatValue(all[name]) : all[name];
  }
  return inputs;
}

function uiOf(spec, meta) {
  const loaded = meta.loaded;
  // unchanged, unless the extension's widgets took values the file held by position
  if (loaded && meta.geometry === geometry(spec) &&
      sameValue(loaded.ui?.comfy_widgets, spec.ui.comfyWidgets)) return loaded.ui;
  const ui = { ...(loaded?.ui ?? {}) };
  for (const key of NODE_UI_KEYS) delete ui[key];
  ui.pos = spec.ui.pos;
  ui.size = spec.ui.size;
  const defaultTitle = spec.schema?.display_name ?? spec.type;
  if (spec.ui.title && spec.ui.title !== defaultTitle) ui.title = spec.ui.title;
  if (spec.ui.collapsed) ui.collapsed = true;
  if (spec.ui.pinned) ui.pinned = true;
  if (spec.ui.color) ui.color = spec.ui.color;
  if (spec.ui.bgcolor) ui.bgcolor = spec.ui.bgcolor;
  const controls = Object.fromEntries(Object.entries(spec.controls).filter(([, m]) => m !== "fixed"));
  if (Object.keys(controls).length) ui.controls = controls;
  // reroute points of incoming links, by input name (layout only, like everything in "ui")
  if (Object.keys(spec.ui.reroutes ?? {}).length) ui.reroutes = spec.ui.reroutes;
  // values of widgets a ComfyUI pack's extension added that are no inputs, by name
  if (Object.keys(spec.ui.widgets ?? {}).length) ui.widgets = spec.ui.widgets;
  if (spec.ui.comfyWidgets?.length) ui.comfy_widgets = spec.ui.comfyWidgets;
  return ui;
}

function sameValue(a, b) {
  return JSON.stringify(a) === JSON.stringify(b);
}

/** `nodes` (plain JSON, e.g. a subgraph's) with the numbers that FLOAT inputs hold written as
 * floats, as the editor writes its own nodes. */
export function floatInputs(nodes, schemas) {
  return Object.fromEntries(Object.entries(nodes).map(([id, node]) => {
    const schema = schemas[node.type];
    if (!schema || !node.inputs) return [id, node];
    const inputs = Object.fromEntries(Object.entries(node.inputs).map(([name, value]) => [
      name, typeof value === "number" &&
        schema.inputs.find((i) => i.name === name)?.type === "FLOAT" ? new FloatValue(value) : value]));
    return [id, { ...node, inputs }];
  }));
}

/** A number that a FLOAT input holds: written as 7.0, never 7 (as Python writes it). */
class FloatValue {
  constructor(value) { this.value = value; }
  toJSON() {
    const text = Number.isInteger(this.value) && Math.abs(this.value) < 1e16
      ? this.value.toFixed(1) : String(this.value);
    return `\u0001float:${text}`;
  }
}

/** JSON text in nodeflow's stable layout (2-space indent, UTF-8, trailing newline). */
export function workflowText(doc) {
  return JSON.stringify(doc, null, 2).replace(/"\\u0001float:([^"]*)"/g, "$1") + "\n";
}

/** The plain JSON value of `doc` (FloatValue unwrapped), for sending to the server. */
export function workflowJson(doc) {
  return JSON.parse(workflowText(doc));
}

/** The graph to show on a first visit, while the server has no default workflow to give. */
export const FALLBACK_WORKFLOW = {
  nodeflow: 1,
  name: "txt2img",
  description: "Text to image with the built-in model",
  nodes: {
    ckpt: { type: "CheckpointLoader", inputs: { checkpoint: "nodeflow-tiny" },
            ui: { pos: [20, 200] } },
    pos: { type: "TextEncode", inputs: { clip: { node: "ckpt", output: "clip" },
                                          text: "a handwritten digit seven" },
           ui: { pos: [330, 20] } },
    neg: { type: "TextEncode", inputs: { clip: { node: "ckpt", output: "clip" }, text: "" },
           ui: { pos: [330, 230] } },
    latent: { type: "EmptyLatent", inputs: { width: 32, height: 32, batch_size: 4 },
              ui: { pos: [330, 440] } },
    sample: { type: "KSampler", inputs: {
      model: { node: "ckpt", output: "model" }, positive: { node: "pos", output: "conditioning" },
      negative: { node: "neg", output: "conditioning" }, latent: { node: "latent", output: "latent" },
      seed: 0, steps: 20, cfg: 5.0, sampler: "euler", scheduler: "normal", denoise: 1.0 },
              ui: { pos: [650, 100] } },
    decode: { type: "VAEDecode", inputs: { latent: { node: "sample", output: "latent" },
                                           vae: { node: "ckpt", output: "vae" } },
              ui: { pos: [970, 100] } },
    save: { type: "SaveImage", inputs: { images: { node: "decode", output: "image" },
                                         prefix: "nodeflow" },
            ui: { pos: [970, 220], size: [280, 300] } },
  },
};

/** A node id for a new node of `type` that is not in `taken`. */
export function newId(type, taken) {
  const stem = type.replace(/[^A-Za-z0-9]+/g, "").toLowerCase() || "node";
  if (!taken.has(stem)) return stem;
  for (let i = 2; ; i++) if (!taken.has(`${stem}${i}`)) return `${stem}${i}`;
}
