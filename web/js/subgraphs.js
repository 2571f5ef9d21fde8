// Subgraphs in the editor (docs/workflow-format.md, section 6): a file's `subgraphs` section as
// node types, the graph inside one as a workflow to edit (with `@inputs` and `@outputs` nodes
// standing for its boundary) and back, a selection turned into a subgraph, and the breadcrumb.
import { isLink } from "./workflow.js";

export const INPUTS = "@inputs";
export const OUTPUTS = "@outputs";
const LITERAL_TYPES = new Set(["INT", "FLOAT", "STRING", "BOOLEAN"]);

/** Node-type schemas (as /object_info's) for the definitions in `defs`; `schemas`: the
 * installed ones, which inner nodes are looked up in. */
export function subgraphSchemas(all = {}, schemas = {}) {
  // one that is not a definition is left to the engine to report (its nodes: placeholders)
  const defs = Object.fromEntries(Object.entries(all ?? {}).filter(([, def]) =>
    def && typeof def === "object" && def.nodes && typeof def.nodes === "object"));
  const out = {};
  const visiting = new Set();
  const schemaOf = (type) => {
    if (!(type in defs)) return schemas[type];
    if (!(type in out) && !visiting.has(type)) {  // a subgraph inside itself: the engine says so
      visiting.add(type);
      out[type] = build(type, defs[type]);
      visiting.delete(type);
    }
    return out[type];
  };
  const build = (name, def) => ({
    type: name, display_name: name, category: def.category ?? "subgraphs",
    description: def.description ?? "", pack: "subgraphs", subgraph: true,
    output_node: Object.values(def.nodes ?? {}).some((n) => schemaOf(n.type)?.output_node),
    inputs: Object.entries(def.inputs ?? {}).map(([input, spec]) => ({
      name: input, type: spec.type, required: !("default" in spec),
      ...("default" in spec ? { default: spec.default } : {}),
      ...(spec.description ? { tooltip: spec.description } : {}),
      ...(LITERAL_TYPES.has(spec.type) ? {} : { link_only: true }),
    })),
    outputs: Object.entries(def.outputs ?? {}).map(([output, link]) => ({
      name: output, type: linkType(def, link, schemaOf) })),
  });
  for (const name of Object.keys(defs)) schemaOf(name);
  return out;
}

function linkType(def, link, schemaOf) {
  if (!isLink(link)) return "*";
  if (link.node === INPUTS) return def.inputs?.[link.output]?.type ?? "*";
  const type = def.nodes?.[link.node]?.type;
  return schemaOf(type)?.outputs.find((o) => o.name === link.output)?.type ?? "*";
}

/** The schemas of the two nodes that stand for `def`'s inputs and outputs inside it. */
export function boundarySchemas(def, schemas) {
  const schemaOf = (type) => schemas[type];
  return {
    [INPUTS]: { type: INPUTS, display_name: "Subgraph inputs", category: "subgraphs",
                description: "The subgraph's inputs: link them to inner nodes.",
                boundary: "inputs", inputs: [],
                outputs: Object.entries(def.inputs ?? {}).map(([name, spec]) => ({
                  name, type: spec.type })) },
    [OUTPUTS]: { type: OUTPUTS, display_name: "Subgraph outputs", category: "subgraphs",
                 description: "The subgraph's outputs: link inner outputs to them.",
                 boundary: "outputs", outputs: [],
                 inputs: Object.entries(def.outputs ?? {}).map(([name, link]) => ({
                   name, type: linkType(def, link, schemaOf), required: true,
                   link_only: true })) },
  };
}

/** The graph inside `def` as a workflow the editor opens. */
export function innerDoc(def) {
  const boundary = def.ui?.boundary ?? {};
  const placed = Object.values(def.nodes ?? {}).map((n) => n.ui?.pos).filter(Boolean);
  const left = placed.length ? Math.min(...placed.map((p) => p[0])) : 40;
  const right = placed.length ? Math.max(...placed.map((p) => p[0])) : 400;
  const top = placed.length ? Math.min(...placed.map((p) => p[1])) : 40;
  const nodes = { [INPUTS]: { type: INPUTS } };
  const inputsPos = boundary[INPUTS] ?? (placed.length ? [left - 260, top] : null);
  if (inputsPos) nodes[INPUTS].ui = { pos: inputsPos };
  Object.assign(nodes, structuredClone(def.nodes ?? {}));
  nodes[OUTPUTS] = { type: OUTPUTS, inputs: structuredClone(def.outputs ?? {}) };
  const outputsPos = boundary[OUTPUTS] ?? (placed.length ? [right + 340, top] : null);
  if (outputsPos) nodes[OUTPUTS].ui = { pos: outputsPos };
  const doc = { nodeflow: 1, nodes };
  if (def.ui?.groups?.length) doc.ui = { groups: def.ui.groups };
  return doc;
}

/** The definition for what the editor shows of it (`shown`, plain JSON), from `old`;
 * `initial`: where the boundary nodes were put when it was opened (kept only once moved). */
export function definitionOf(shown, old, initial = {}) {
  const def = {};
  for (const key of ["description", "category"]) if (key in old) def[key] = old[key];
  def.inputs = structuredClone(old.inputs ?? {});
  const outputs = shown.nodes[OUTPUTS]?.inputs ?? {};
  def.outputs = {};
  for (const name of Object.keys(old.outputs ?? {})) {
    if (isLink(outputs[name])) def.outputs[name] = outputs[name];
  }
  def.nodes = {};
  for (const [id, node] of Object.entries(shown.nodes)) {
    if (id === INPUTS || id === OUTPUTS) continue;
    const before = old.nodes?.[id];  // the editor pins a version on every node it writes:
    if (before && !("version" in before) && before.type === node.type) {  // not on these
      const { version, ...rest } = node;
      def.nodes[id] = rest;
    } else {
      def.nodes[id] = node;
    }
  }
  const ui = { ...(old.ui ?? {}) };
  const boundary = {};
  for (const id of [INPUTS, OUTPUTS]) {
    const pos = shown.nodes[id]?.ui?.pos;
    if (pos && (old.ui?.boundary?.[id] || JSON.stringify(pos) !== initial[id])) boundary[id] = pos;
  }
  if (Object.keys(boundary).length) ui.boundary = { ...(old.ui?.boundary ?? {}), ...boundary };
  const groups = shown.ui?.groups ?? [];
  if (groups.length) ui.groups = groups;
  else delete ui.groups;
  if (Object.keys(ui).length) def.ui = ui;
  return def;
}

/** Replace the nodes `ids` of `doc` (plain JSON) by one node of a new subgraph `name`.
 * Links from outside become its inputs (named after the inner input), links going out its
 * outputs. Returns {nodes, definition, id}. */
export function convertSelection(doc, ids, name, schemas, newId) {
  const chosen = new Set(ids.filter((id) => id in doc.nodes && !id.startsWith("@")));
  if (!chosen.size) throw new Error("select the nodes to put in the subgraph");
  const inner = {};
  for (const id of chosen) inner[id] = structuredClone(doc.nodes[id]);
  const taken = new Set(Object.keys(doc.nodes).filter((id) => !chosen.has(id)));
  const id = newId(name, taken);
  const inputs = {};
  const outerLinks = {};
  const inputFor = new Map();
  for (const node of Object.values(inner)) {
    for (const [input, value] of Object.entries(node.inputs ?? {})) {
      if (!isLink(value) || chosen.has(value.node)) continue;
      const key = `${value.node}\n${value.output}`;
      if (!inputFor.has(key)) {
        const unique = uniqueName(input, inputs);
        const source = schemas[doc.nodes[value.node]?.type]?.outputs
          .find((o) => o.name === value.output)?.type;
        const target = schemas[node.type]?.inputs.find((i) => i.name === input)?.type;
        inputs[unique] = { type: source && source !== "*" ? source : target ?? "*" };
        outerLinks[unique] = value;
        inputFor.set(key, unique);
      }
      node.inputs[input] = { node: INPUTS, output: inputFor.get(key) };
    }
  }
  const outputs = {};
  const outputFor = new Map();
  const nodes = {};
  const placed = [...chosen].map((n) => doc.nodes[n].ui?.pos).filter(Boolean);
  const pos = placed.length ? [Math.min(...placed.map((p) => p[0])),
                               Math.min(...placed.map((p) => p[1]))] : undefined;
  for (const [nodeId, node] of Object.entries(doc.nodes)) {
    if (chosen.has(nodeId)) {
      if (!(id in nodes)) nodes[id] = { type: name, inputs: outerLinks, ...(pos ? { ui: { pos } } : {}) };
      continue;
    }
    const copy = structuredClone(node);
    for (const [input, value] of Object.entries(copy.inputs ?? {})) {
      if (!isLink(value) || !chosen.has(value.node)) continue;
      const key = `${value.node}\n${value.output}`;
      if (!outputFor.has(key)) {
        const unique = uniqueName(value.output, outputs);
        outputs[unique] = value;
        outputFor.set(key, unique);
      }
      copy.inputs[input] = { node: id, output: outputFor.get(key) };
      if (copy.ui?.reroutes) delete copy.ui.reroutes[input];
    }
    nodes[nodeId] = copy;
  }
  return { id, nodes, definition: { inputs, outputs, nodes: inner } };
}

export function uniqueName(stem, taken) {
  if (!(stem in taken)) return stem;
  for (let i = 2; ; i++) if (!(`${stem}${i}` in taken)) return `${stem}${i}`;
}

/** Every node (top level and in every definition) of `doc`, for renaming a subgraph's
 * inputs or outputs where it is used. */
export function allNodes(doc) {
  return [...Object.values(doc.nodes),
          ...Object.values(doc.subgraphs ?? {}).flatMap((d) => Object.values(d.nodes ?? {}))];
}

/** Rename (`to` a name) or remove (`to` null) input or output `name` of subgraph `type`
 * in the workflow `doc` (plain JSON, changed in place), where it is defined and used. */
export function editBoundary(doc, type, kind, name, to) {
  const def = doc.subgraphs[type];
  const renamed = (entries) => Object.fromEntries(Object.entries(entries).flatMap(
    ([key, value]) => (key !== name ? [[key, value]] : to == null ? [] : [[to, value]])));
  if (kind === "inputs") {
    def.inputs = renamed(def.inputs ?? {});
    for (const node of Object.values(def.nodes)) {
      for (const [input, value] of Object.entries(node.inputs ?? {})) {
        if (!isLink(value) || value.node !== INPUTS || value.output !== name) continue;
        if (to == null) delete node.inputs[input];
        else node.inputs[input] = { node: INPUTS, output: to };
      }
    }
    for (const node of allNodes(doc)) {
      if (node.type === type && node.inputs) node.inputs = renamed(node.inputs);
    }
    return;
  }
  def.outputs = renamed(def.outputs ?? {});
  const scopes = [doc.nodes, ...Object.values(doc.subgraphs).map((d) => d.nodes ?? {})];
  for (const nodes of scopes) {
    for (const node of Object.values(nodes)) {
      for (const [input, value] of Object.entries(node.inputs ?? {})) {
        if (!isLink(value) || nodes[value.node]?.type !== type || value.output !== name) continue;
        if (to == null) delete node.inputs[input];
        else node.inputs[input] = { node: value.node, output: to };
      }
    }
  }
}

/** The bar above the canvas: "txt2img › Draw digit"; a click on a part goes back to it. */
export class Breadcrumb {
  constructor(element, go) {
    this.element = element;
    this.go = go; // (depth) => void
  }

  render(rootName, path) {
    this.element.hidden = path.length === 0;
    const parts = [rootName || "workflow", ...path.map((frame) => frame.title)];
    const items = parts.map((text, depth) => {
      const last = depth === parts.length - 1;
      const part = document.createElement(last ? "span" : "button");
      part.textContent = text;
      part.className = "crumb";
      if (!last) {
        part.type = "button";
        part.onclick = () => this.go(depth);
      } else {
        part.setAttribute("aria-current", "page");
      }
      return part;
    });
    const back = document.createElement("button");
    back.type = "button";
    back.className = "crumb-back";
    back.textContent = "← Back";
    back.title = "Back to the graph around this subgraph (Escape)";
    back.onclick = () => this.go(path.length - 1);
    const joined = items.flatMap((item, i) => (i ? [sep(), item] : [item]));
    this.element.replaceChildren(back, ...joined);
  }
}

function sep() {
  const s = document.createElement("span");
  s.className = "crumb-sep";
  s.textContent = "›";
  return s;
}
