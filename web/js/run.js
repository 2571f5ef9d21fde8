// Running the graph: queue it, show what the server reports (running node, progress, latent
// previews, results, errors), and step the seeds whose control says so.
import { api } from "./api.js";
import { nextValue } from "./widgets.js";
import { isLink } from "./workflow.js";

/** The top-level node an event's node id is inside (`first/sample` is in `first`). */
const shownNode = (id) => String(id).split("/")[0];

export class Runner {
  constructor({ editor, workflow, notify, onResults, onQueueChanged, atRoot = () => true,
                fanOutCount = () => 1 }) {
    this.editor = editor;
    this.workflow = workflow; // () => the workflow file the editor holds
    this.notify = notify; // (message, kind) => void
    this.onResults = onResults; // (nodeId, images, promptId) => void
    this.onQueueChanged = onQueueChanged;
    this.atRoot = atRoot; // () => whether the canvas shows the workflow's top level (the
    // events name its nodes), not the inside of a subgraph
    this.fanOutCount = fanOutCount; // () => N of "N seeds across workers" (1: off)
    this.running = null;
    this.previewUrl = null;
    this.started = 0; // when the running node started (performance.now())
    this.images = {}; // shown node -> every image of this run (a list runs it several times)
    this.ran = new Set(); // shown nodes that ran or came from the cache in this run
  }

  /** After a run: dim the nodes an output needed that neither ran nor came from the cache
   * (a lazy branch not taken). Muted and bypassed nodes are drawn as such already. */
  #dimSkipped() {
    const nodes = this.workflow().nodes;
    const needed = new Set();
    const visit = (id) => {
      const node = nodes[id];
      if (!node || needed.has(id) || node.mode === "mute") return;
      needed.add(id);
      for (const value of Object.values(node.inputs ?? {})) if (isLink(value)) visit(value.node);
    };
    for (const [id, node] of Object.entries(nodes)) {
      if (this.editor.schemas[node.type]?.output_node && !node.mode) visit(id);
    }
    if (this.atRoot()) this.editor.setDimmed([...needed].filter((id) => !this.ran.has(id) && !nodes[id].mode));
  }

  /** `id` when the canvas shows the node it names, else null (nothing drawn for it). */
  #shown(id) {
    return this.atRoot() ? id : null;
  }

  /** The running node is done (or the run ended): show how long it took on it. */
  #timeRunning() {
    if (this.running != null) {
      this.editor.setTime(this.#shown(this.running), (performance.now() - this.started) / 1000);
    }
  }

  async queue() {
    const doc = this.workflow();
    // cleared before the request: a run that fails fast reports its error before the answer
    // to this request arrives, and that error must stay on the node
    this.editor.setErrors({});
    const fanOut = this.#fanOut(doc);
    if (fanOut === false) return null;
    let result;
    try {
      result = await api.queuePrompt(doc, fanOut ? { fan_out: fanOut } : null);
    } catch (error) {
      this.#showRejection(error);
      return null;
    }
    this.#stepControls(doc);
    this.notify(`queued #${result.number}`, "info");
    this.onQueueChanged();
    return result.prompt_id;
  }

  /** `{node, input: "seed", count}` when the queue button asks for N seeds across the
   * cluster's workers: the selected node's seed, else the first node with a seed typed in;
   * null when off, false (after saying why) when no node has a seed. */
  #fanOut(doc) {
    const count = this.fanOutCount();
    if (!(count > 1)) return null;
    const hasSeed = (id) => typeof doc.nodes[id]?.inputs?.seed === "number";
    const selected = this.atRoot() ? this.editor.selectedIds() : [];
    const node = selected.find(hasSeed) ?? Object.keys(doc.nodes).find(hasSeed);
    if (node === undefined) {
      this.notify("no node has a seed typed in to run across the workers", "error");
      return false;
    }
    return { node, input: "seed", count };
  }

  #showRejection(error) {
    const body = error.body ?? {};
    const errors = {};
    for (const [node, entry] of Object.entries(body.node_errors ?? {})) {
      errors[node] = entry.errors.map((e) => ({ input: e.extra_info?.input_name ?? null,
                                                 message: e.message }));
    }
    this.editor.setErrors(this.atRoot() ? errors : {});
    const count = Object.values(errors).flat().length;
    const general = body.error?.details || "";
    const first = Object.entries(errors)[0];
    const where = first ? ` (${first[0]}${first[1][0].input ? `.${first[1][0].input}` : ""}: ` +
      `${first[1][0].message})` : "";
    this.notify(`${body.error?.message ?? error.message}${where}` +
                (count > 1 ? ` and ${count - 1} more` : "") +
                (general ? `: ${general}` : ""), "error");
  }

  #stepControls(doc) {
    if (!this.atRoot()) return; // the top-level nodes' widgets are not on the canvas
    for (const [id, node] of Object.entries(doc.nodes)) {
      for (const [input, mode] of Object.entries(node.ui?.controls ?? {})) {
        const value = node.inputs?.[input];
        if (typeof value !== "number") continue;
        const schema = this.editor.schemas[node.type]?.inputs.find((i) => i.name === input);
        this.editor.setValue(id, input, nextValue(mode, value, schema ?? {}));
      }
    }
  }

  interrupt() {
    return api.interrupt();
  }

  /** Websocket handlers. */
  handlers() {
    return {
      status: () => this.onQueueChanged(),
      execution_start: () => {
        this.images = {};
        this.ran = new Set();
        this.editor.setDimmed([]);
        this.editor.setErrors({});
        this.editor.clearTimes();
      },
      execution_cached: ({ nodes }) => {
        for (const node of nodes ?? []) {
          this.editor.setTime(this.#shown(shownNode(node)), null);
          this.ran.add(shownNode(node));
        }
      },
      executing: ({ node, display_node: shown }) => {
        if (node != null) this.ran.add(shown ?? shownNode(node));
        this.#timeRunning();
        this.started = performance.now();
        this.running = node == null ? null : shown ?? shownNode(node);
        this.editor.setRunning(this.#shown(node));
        if (node == null) this.onQueueChanged();
      },
      progress: ({ node, value, max }) => this.editor.setProgress(this.#shown(shownNode(node)), value, max),
      preview: (blob) => {
        if (!this.running) return;
        if (this.previewUrl) URL.revokeObjectURL(this.previewUrl);
        this.previewUrl = URL.createObjectURL(blob);
        this.editor.setImages(this.#shown(this.running), [this.previewUrl]);
      },
      executed: ({ node: inner, display_node: shown, output, prompt_id: promptId }) => {
        const node = shown ?? inner;
        const images = (output?.images ?? []).map((image) => api.viewUrl(image));
        if (images.length) {  // every item of a list run, and every inner node's, on the node
          const all = [...(this.images[node] ?? []), ...images.filter(
            (url) => !this.images[node]?.includes(url))];
          this.images[node] = all;
          this.editor.setImages(this.#shown(node), all);
          this.onResults(node, images, promptId);
        }
        if (output?.text) this.editor.setNote(this.#shown(node), output.text.join("\n"));
      },
      execution_error: ({ node_id: node, exception_message: message, exception_type: type }) => {
        this.#timeRunning();
        this.running = null;
        if (node && this.atRoot()) this.editor.setErrors({ [node]: [{ input: null, message }] });
        this.notify(`${node ? `${node}: ` : ""}${message || type}`, "error");
      },
      execution_interrupted: () => {
        this.#timeRunning();
        this.running = null;
        this.notify("interrupted", "info");
      },
      execution_success: () => {
        this.editor.setRunning(null);
        this.#dimSkipped();
      },
    };
  }
}
