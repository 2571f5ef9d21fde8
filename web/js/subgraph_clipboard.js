// Copy and paste of subgraph nodes between workflows: a subgraph's type lives in its file's
// `subgraphs` section, so the canvas's clipboard carries the definitions its nodes use (and
// the ones those use), and a paste adds them to the workflow it lands in.
export const CLIPBOARD_KEY = "litegrapheditor_clipboard"; // the vendored canvas's clipboard
const CARRIED = "nodeflow_subgraphs";

/** The clipboard `clip` with the definitions (from `defs`) of the subgraph types its nodes
 * use, directly or inside other subgraphs. */
export function withDefinitions(clip, defs = {}) {
  const carried = {};
  const visit = (type) => {
    if (!(type in (defs ?? {})) || type in carried) return;
    carried[type] = defs[type];
    for (const inner of Object.values(defs[type]?.nodes ?? {})) visit(inner?.type);
  };
  for (const node of clip.nodes ?? []) visit(node.type);
  const out = { ...clip };
  delete out[CARRIED];
  if (Object.keys(carried).length) out[CARRIED] = carried;
  return out;
}

/** What pasting `clip` into a workflow with subgraphs `defs` and other node types `taken`
 * needs: `added` definitions to put into the workflow, and the clipboard with its nodes'
 * types renamed where a different definition of that name is there already. */
export function adoptDefinitions(clip, defs = {}, taken = new Set()) {
  const carried = clip[CARRIED] ?? {};
  const names = new Set([...taken, ...Object.keys(defs ?? {})]);
  const renamed = {};
  const mapped = {};
  for (const [name, def] of Object.entries(carried)) {
    // this workflow has it, under its name or as an earlier paste's "name 2"
    const have = Object.keys(defs ?? {}).find((n) => (n === name || n.startsWith(`${name} `)
      && /^\d+$/.test(n.slice(name.length + 1))) && same(defs[n], def));
    if (have !== undefined) {
      if (have !== name) mapped[name] = have;
      continue;
    }
    let free = name;
    for (let i = 2; names.has(free); i++) free = `${name} ${i}`;
    names.add(free);
    renamed[name] = free;
  }
  const to = { ...mapped, ...renamed };
  const rename = (node) => (node && node.type in to ? { ...node, type: to[node.type] } : node);
  const added = {};
  for (const [name, free] of Object.entries(renamed)) {
    const def = carried[name];
    added[free] = { ...def, nodes: Object.fromEntries(Object.entries(def.nodes ?? {})
      .map(([id, node]) => [id, rename(node)])) };
  }
  const out = { ...clip, nodes: (clip.nodes ?? []).map(rename) };
  delete out[CARRIED];
  return { added, clip: out };
}

/** Equal as JSON, whatever the order of keys. */
function same(a, b) {
  return canonical(a) === canonical(b);
}

function canonical(value) {
  if (Array.isArray(value)) return `[${value.map(canonical).join(",")}]`;
  if (value && typeof value === "object") {
    return `{${Object.keys(value).sort().map((k) => `${JSON.stringify(k)}:${canonical(value[k])}`).join(",")}}`;
  }
  return JSON.stringify(value);
}
