// The node library: every node type as a tree by category, a search that ranks as the canvas
// search box does (fuzzy.js), and what a node does (description, inputs, outputs) on hover or
// selection. Click an entry to add the node in the middle of the view, or drag it onto the
// canvas to put it where it is dropped. `n` (when not typing) opens and closes the panel.
import { rankTypes } from "./fuzzy.js";
import { el } from "./dom.js";

const SHOWN_RESULTS = 60;
const DRAG_START_PX = 5;

export class NodeLibrary {
  constructor(root, { editor, button }) {
    this.root = root;
    this.editor = editor; // schemas are read from it on each render: a pack reload shows at once
    this.button = button;
    this.opened = new Set(); // category paths the user expanded, kept across renders
    this.results = [];
    this.selected = 0;
    this.search = el("input", { type: "search", class: "library-search", placeholder: "Search nodes",
                                "aria-label": "Search nodes", spellcheck: "false" });
    this.search.addEventListener("input", () => this.render());
    this.search.addEventListener("keydown", (event) => this.#searchKey(event));
    this.list = el("div", { class: "library-tree", role: "group", "aria-label": "Node types" });
    this.info = el("div", { class: "node-info", "aria-label": "Node details", "aria-live": "polite" });
    root.replaceChildren(this.search, this.list, this.info);
    button.addEventListener("click", () => setTimeout(() => this.#opened(), 0));
    document.addEventListener("keydown", (event) => this.#shortcut(event));
  }

  get isOpen() {
    return document.body.classList.contains("show-library");
  }

  toggle() {
    document.body.classList.toggle("show-library");
    this.#opened();
  }

  #opened() {
    this.button.setAttribute("aria-pressed", String(this.isOpen));
    if (!this.isOpen) return;
    this.render();
    this.search.focus();
    this.search.select();
  }

  #shortcut(event) {
    const target = event.target;
    const typing = ["INPUT", "TEXTAREA", "SELECT"].includes(target.tagName) || target.isContentEditable;
    if (event.key !== "n" || typing || event.ctrlKey || event.metaKey || event.altKey) return;
    event.preventDefault();
    this.toggle();
  }

  render() {
    const schemas = this.editor.schemas;
    const query = this.search.value.trim();
    if (query) {
      this.results = rankTypes(query, schemas).slice(0, SHOWN_RESULTS);
      this.selected = 0;
      this.list.replaceChildren(...(this.results.length
        ? this.results.map(({ type, schema }, i) => this.#entry(type, schema, schema.category, i))
        : [el("p", { class: "empty" }, "No node matches.")]));
      this.#showInfo(this.results[0]?.type);
      this.#mark();
      return;
    }
    this.results = [];
    const tree = { children: new Map(), types: [] };
    for (const [type, schema] of Object.entries(schemas)) {
      if (schema.deprecated) continue;
      let branch = tree;
      for (const part of (schema.category || "other").split("/")) {
        if (!branch.children.has(part)) branch.children.set(part, { children: new Map(), types: [] });
        branch = branch.children.get(part);
      }
      branch.types.push([type, schema]);
    }
    this.list.replaceChildren(...this.#branch(tree, ""));
  }

  #branch(branch, path) {
    const categories = [...branch.children.entries()].sort(([a], [b]) => a.localeCompare(b))
      .map(([name, child]) => {
        const full = path ? `${path}/${name}` : name;
        const details = el("details", { class: "category", "data-category": full },
          el("summary", {}, name, el("span", { class: "count" }, String(count(child)))),
          ...this.#branch(child, full));
        details.open = this.opened.has(full);
        details.addEventListener("toggle", () => {
          if (details.open) this.opened.add(full); else this.opened.delete(full);
        });
        return details;
      });
    const types = branch.types
      .sort(([, a], [, b]) => (a.display_name || a.type).localeCompare(b.display_name || b.type))
      .map(([type, schema]) => this.#entry(type, schema));
    return [...categories, ...(types.length ? [el("ul", {}, ...types)] : [])];
  }

  #entry(type, schema, category = null, index = null) {
    const button = el("button", { type: "button", class: "node-entry", "data-type": type,
                                  title: `${type}: click to add, or drag onto the canvas` },
                      schema.display_name || type,
                      category ? el("small", {}, category) : null);
    button.addEventListener("mouseenter", () => this.#showInfo(type));
    button.addEventListener("focus", () => this.#showInfo(type));
    button.addEventListener("pointerdown", (event) => this.#press(event, type));
    button.addEventListener("keydown", (event) => {
      if (event.key === "Enter" || event.key === " ") {
        event.preventDefault();
        this.#addInMiddle(type);
      }
    });
    if (index != null) button.dataset.index = String(index);
    return el("li", {}, button);
  }

  // -- adding ----------------------------------------------------------------------------------

  /** A press on an entry: a click adds in the middle of the view, a drag where it is dropped. */
  #press(event, type) {
    if (event.button !== 0) return;
    event.preventDefault(); // no text selection while dragging
    const start = { x: event.clientX, y: event.clientY };
    let ghost = null;
    const move = (e) => {
      if (!ghost && Math.hypot(e.clientX - start.x, e.clientY - start.y) < DRAG_START_PX) return;
      if (!ghost) {
        ghost = el("div", { class: "library-ghost" }, this.editor.schemas[type]?.display_name || type);
        document.body.append(ghost);
      }
      ghost.style.transform = `translate(${e.clientX + 8}px, ${e.clientY + 8}px)`;
    };
    const up = (e) => {
      window.removeEventListener("pointermove", move, true);
      window.removeEventListener("pointerup", up, true);
      if (!ghost) { // a click: the canvas takes the keys next (Delete, Ctrl+Z act on the node)
        this.#addInMiddle(type);
        this.editor.focus();
        return;
      }
      ghost.remove();
      const canvas = this.editor.canvas.canvas;
      if (document.elementFromPoint(e.clientX, e.clientY) !== canvas) return; // dropped elsewhere
      e.stopPropagation(); // the canvas must not take this release for one of its own drags
      this.editor.addNodeAt(type, e.clientX, e.clientY);
      this.editor.focus();
    };
    // capture: the pointer may be released over the canvas, which handles releases itself
    window.addEventListener("pointermove", move, true);
    window.addEventListener("pointerup", up, true);
  }

  #addInMiddle(type) {
    const box = this.editor.canvas.canvas.getBoundingClientRect();
    // Several added without moving the view step down and right, or each would hide the last.
    const view = this.editor.visibleArea().join();
    this.stacked = this.stackedView === view ? this.stacked + 1 : 0;
    this.stackedView = view;
    const step = (this.stacked % 10) * 24;
    // the node's corner a little up and left of the middle, so the node itself is about centred
    this.editor.addNodeAt(type, box.left + box.width / 2 - 100 + step,
                          box.top + box.height / 2 - 60 + step);
  }

  // -- search keys and details -----------------------------------------------------------------

  #searchKey(event) {
    if (event.key === "Escape") { // first clears the search, then closes the panel
      event.preventDefault();
      if (this.search.value) {
        this.search.value = "";
        this.render();
      } else {
        this.toggle();
        this.editor.focus();
      }
      return;
    }
    if (!this.results.length) return;
    if (event.key === "ArrowDown" || event.key === "ArrowUp") {
      event.preventDefault();
      const step = event.key === "ArrowDown" ? 1 : -1;
      this.selected = (this.selected + step + this.results.length) % this.results.length;
      this.#showInfo(this.results[this.selected].type);
      this.#mark();
    } else if (event.key === "Enter") {
      event.preventDefault();
      this.#addInMiddle(this.results[this.selected].type);
    }
  }

  #mark() {
    for (const button of this.list.querySelectorAll(".node-entry")) {
      const on = button.dataset.index === String(this.selected);
      button.classList.toggle("selected", on);
      if (on) button.setAttribute("aria-current", "true");
      else button.removeAttribute("aria-current");
      if (on) button.scrollIntoView({ block: "nearest" });
    }
  }

  #showInfo(type) {
    const schema = type && this.editor.schemas[type];
    if (!schema) {
      this.info.replaceChildren();
      return;
    }
    const socket = (item) => el("li", {},
      el("code", {}, item.display_name || item.name), " ", el("span", { class: "type" }, item.type),
      item.description || item.tooltip
        ? el("div", { class: "dim" }, item.description || item.tooltip) : null);
    this.info.replaceChildren(
      el("h4", {}, schema.display_name || type,
         schema.display_name && schema.display_name !== type ? el("small", {}, ` ${type}`) : null),
      el("p", {}, schema.description || "No description."),
      schema.inputs.length ? el("h5", {}, "Inputs") : null,
      schema.inputs.length ? el("ul", { class: "sockets" }, ...schema.inputs.map(socket)) : null,
      schema.outputs.length ? el("h5", {}, "Outputs") : null,
      schema.outputs.length ? el("ul", { class: "sockets" }, ...schema.outputs.map(socket)) : null);
  }
}

function count(branch) {
  return branch.types.length + [...branch.children.values()].reduce((n, c) => n + count(c), 0);
}
