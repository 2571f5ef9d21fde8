// Overall progress of the running prompt, in the toolbar and the tab title ("[40%] nodeflow"),
// from the websocket messages alone. The server does not say how many nodes a run has, so the
// total is counted from the queued prompt: its output nodes and everything they depend on.
import { api } from "./api.js";

const TITLE_MARK = /^\[\d+%\] /;

export class RunProgress {
  constructor(root) {
    this.root = root; // the toolbar element: a thin bar and "3/7 nodes · 40%"
    this.bar = root.querySelector(".bar");
    this.text = root.querySelector(".text");
    this.run = null;
  }

  /** Websocket handlers; give them to api.connect along with the others (mergeHandlers). */
  handlers() {
    return {
      execution_start: ({ prompt_id: id }) => this.#start(id),
      execution_cached: ({ nodes }) => {
        for (const node of nodes ?? []) this.run?.done.add(node);
        this.#show();
      },
      executing: ({ node }) => {
        if (!this.run) return;
        if (node == null) return this.#end();
        if (this.run.current) this.run.done.add(this.run.current);
        this.run.current = node;
        this.run.part = 0;
        this.#show();
      },
      progress: ({ node, value, max }) => {
        if (!this.run || node !== this.run.current) return;
        this.run.part = max ? value / max : 0;
        this.#show();
      },
      execution_success: () => this.#end(),
      execution_error: () => this.#end(),
      execution_interrupted: () => this.#end(),
    };
  }

  #start(id) {
    this.run = { id, total: null, done: new Set(), current: null, part: 0 };
    this.#show();
    countNodes(id).then((total) => {
      if (this.run?.id !== id) return;
      this.run.total = total;
      this.#show();
    }).catch(() => {}); // without a total the toolbar still counts the finished nodes
  }

  #end() {
    this.run = null;
    this.root.hidden = true;
    document.title = document.title.replace(TITLE_MARK, "");
  }

  #show() {
    const { run } = this;
    if (!run) return;
    const done = run.done.size;
    this.root.hidden = false;
    if (!run.total) {
      this.text.textContent = `${done} node${done === 1 ? "" : "s"} done`;
      this.bar.style.width = "0";
      return;
    }
    const fraction = Math.min(1, (done + (run.current ? run.part : 0)) / run.total);
    const percent = Math.floor(fraction * 100);
    this.text.textContent = `${Math.min(done, run.total)}/${run.total} nodes · ${percent}%`;
    this.bar.style.width = `${fraction * 100}%`;
    this.root.setAttribute("aria-valuenow", String(percent));
    document.title = `[${percent}%] ${document.title.replace(TITLE_MARK, "")}`;
  }
}

/** How many nodes the prompt `id` runs: its outputs and their inputs, transitively. */
async function countNodes(id) {
  const queue = await api.queue();
  let entry = [...queue.queue_running, ...queue.queue_pending].find((e) => e[1] === id);
  if (!entry) entry = (await api.historyItem(id))[id]?.prompt; // it finished meanwhile
  if (!entry) return null;
  const [, , prompt, , outputs] = entry;
  return neededNodes(prompt, outputs ?? []).size || null;
}

/** The nodes that run for `outputs`: those and their inputs, transitively. A muted node does
 * not run, nor what only it needs; a bypassed one does not run but passes its inputs on. */
export function neededNodes(prompt, outputs) {
  const nodes = prompt.nodes ?? prompt; // a nodeflow workflow, or ComfyUI's API format
  const seen = new Set();
  const needed = new Set();
  const visit = (node) => {
    if (seen.has(node) || !nodes[node]) return;
    seen.add(node);
    const mode = nodes[node].mode;
    if (mode === "mute") return;
    if (mode !== "bypass") needed.add(node);
    for (const value of Object.values(nodes[node].inputs ?? {})) {
      const comfyLink = Array.isArray(value) && value.length === 2 && typeof value[0] === "string";
      if (comfyLink) visit(value[0]);
      else if (value && typeof value === "object" && "node" in value) visit(value.node);
    }
  };
  for (const node of outputs) visit(node);
  return needed;
}

/** One handler map from several: each message goes to every map that handles it. */
export function mergeHandlers(...maps) {
  const merged = {};
  for (const map of maps) {
    for (const [kind, handler] of Object.entries(map)) {
      const before = merged[kind];
      merged[kind] = before ? (data) => { before(data); handler(data); } : handler;
    }
  }
  return merged;
}
