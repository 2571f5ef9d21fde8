// The side panels: workflows (examples and the user's saved ones), the queue, and the
// history gallery. Plain DOM; the data comes from api.js.
import { api } from "./api.js";
import { settings } from "./settings.js";
import { ImageViewer } from "./viewer.js";
import { el } from "./dom.js";

export class WorkflowsPanel {
  constructor(root, { open, notify }) {
    this.root = root;
    this.open = open; // (doc, name, "example" | "saved") => void
    this.notify = notify;
  }

  async refresh() {
    const [examples, saved] = await Promise.all([
      api.examples().catch(() => []), api.savedWorkflows().catch(() => [])]);
    this.root.replaceChildren(
      el("h3", {}, "Examples"),
      list(examples, "No examples on this server.",
           (name) => this.#load(api.example, name, "example")),
      el("h3", {}, "Saved"),
      list(saved, "Nothing saved yet: use Save.",
           (name) => this.#load(api.savedWorkflow, name, "saved"),
           (name) => this.#delete(name)),
    );
  }

  async #load(fetcher, name, kind) {
    try {
      this.open(await fetcher(name), name.replace(/\.json$/, ""), kind);
    } catch (error) {
      this.notify(`cannot open ${name}: ${error.message}`, "error");
    }
  }

  async #delete(name) {
    if (!await settings.confirm("Delete saved workflow", `Delete the saved workflow ${name}?`,
                                "Delete")) return;
    await api.deleteWorkflow(name);
    this.refresh();
  }
}

function list(names, empty, onOpen, onDelete) {
  if (!names.length) return el("p", { class: "empty" }, empty);
  return el("ul", { class: "files" }, ...names.map((name) => el("li", {},
    el("button", { class: "link", title: `Open ${name}`, onclick: () => onOpen(name) },
       name.replace(/\.json$/, "")),
    onDelete ? el("button", { class: "icon", title: `Delete ${name}`,
                              "aria-label": `Delete ${name}`, onclick: () => onDelete(name) },
                  "✕") : null)));
}

export class QueuePanel {
  constructor(root, { notify, restore }) {
    this.root = root;
    this.notify = notify;
    this.restore = restore; // (workflow) => void
    this.pending = false;
    this.viewer = new ImageViewer();
    this.images = []; // the gallery, newest first, as the viewer steps through it
  }

  /** Refresh soon (several status messages in a row cost one request). A request made while
   * one is on its way refreshes once more after it: a run that ends meanwhile (a fast one)
   * would otherwise stay "running" and its images missing. */
  refresh() {
    if (this.pending) {
      this.again = true;
      return;
    }
    this.pending = true;
    this.again = false;
    setTimeout(() => this.#refresh().finally(() => {
      this.pending = false;
      if (this.again) this.refresh();
    }), 100);
  }

  async #refresh() {
    const [queue, history] = await Promise.all([api.queue(), api.history(32)]);
    const running = queue.queue_running.map((entry) => this.#entry(entry, "running"));
    const pending = queue.queue_pending.sort((a, b) => a[0] - b[0])
      .map((entry) => this.#entry(entry, "pending"));
    document.getElementById("queue-count").textContent =
      String(queue.queue_running.length + queue.queue_pending.length);
    this.images = Object.entries(history).reverse().flatMap(([, item]) =>
      Object.values(item.outputs ?? {}).flatMap((out) => out.images ?? [])
        .map((image) => ({ url: api.viewUrl(image), filename: image.filename,
                           label: `#${item.prompt[0]}`, item })));
    const gallery = this.images.map((image, index) => this.#thumb(image, index));
    const failed = Object.entries(history).reverse()
      .filter(([, item]) => item.status?.status_str === "error").slice(0, 3)
      .map(([id, item]) => el("li", { class: "failed" }, `#${item.prompt[0]} failed: `,
                              failure(item) ?? id));
    this.root.replaceChildren(...[
      heading("Queue", pending.length ? "Clear queue" : null, () => this.#clearQueue()),
      running.length || pending.length
        ? el("ul", { class: "queue" }, ...running, ...pending)
        : el("p", { class: "empty" }, "Nothing queued."),
      failed.length ? el("ul", { class: "queue" }, ...failed) : null,
      heading("History", Object.keys(history).length ? "Clear history" : null,
              () => this.#clearHistory()),
      gallery.length ? el("div", { class: "gallery" }, ...gallery)
        : el("p", { class: "empty" }, "Results appear here."),
    ].filter(Boolean));
  }

  #entry([number, id, prompt], state) {
    const remove = state === "pending"
      ? el("button", { class: "icon", title: "Remove from the queue", "aria-label": `Remove #${number}`,
                       onclick: async () => { await api.deleteQueued([id]); this.refresh(); } }, "✕")
      : el("button", { class: "icon", title: "Interrupt", "aria-label": "Interrupt",
                       onclick: () => api.interrupt() }, "■");
    return el("li", { class: state, "data-prompt": id },
              el("span", {}, `#${number} ${prompt?.name ?? ""} `), el("em", {}, state), remove);
  }

  #thumb({ url, filename, label, item }, index) {
    return el("figure", {},
      el("button", { class: "thumb", title: `View ${filename}`,
                     "aria-label": `View ${label} ${filename}`,
                     onclick: () => this.viewer.open(this.images, index) },
         el("img", { src: url, alt: filename, loading: "lazy" })),
      el("button", { class: "link", title: "Open the workflow of this result",
                     onclick: () => this.restore(item.prompt[2]) }, label));
  }

  // Only what waits: the running prompt is stopped with its own button (Interrupt).
  async #clearQueue() {
    if (!await settings.confirm("Clear queue", "Remove every prompt that waits in the queue? " +
                                "The running one goes on.", "Clear queue")) return;
    try {
      const { removed } = await api.clearQueue();
      this.notify(`removed ${removed} queued prompt${removed === 1 ? "" : "s"}`);
    } catch (error) {
      this.notify(`queue not cleared: ${error.message}`, "error");
    }
    this.refresh();
  }

  // The result files stay in the output folder; only the list (and its gallery) goes.
  async #clearHistory() {
    if (!await settings.confirm("Clear history", "Clear the history and its gallery? The image " +
                                "files stay in the output folder.", "Clear history")) return;
    try {
      await api.clearHistory();
      this.notify("history cleared");
    } catch (error) {
      this.notify(`history not cleared: ${error.message}`, "error");
    }
    this.refresh();
  }
}

/** A section title, with an action button beside it (not inside: it is no part of the title). */
function heading(title, action, onclick) {
  return el("div", { class: "panel-heading" }, el("h3", {}, title),
            action ? el("button", { class: "link heading-action", onclick }, action) : null);
}

function failure(item) {
  const error = (item.status?.messages ?? []).find(([kind]) => kind === "execution_error");
  return error ? `${error[1].node_id ?? ""} ${error[1].exception_message}` : null;
}
