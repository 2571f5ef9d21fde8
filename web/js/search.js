// The node search box: opened by a double-click on the canvas, the Add node button, or a link
// dropped on empty canvas (then only nodes that can take, or give, that link's type are
// listed). Type a few letters; arrows and Enter, or a click, add the node.
import { rankTypes } from "./fuzzy.js";
import { acceptedTypes } from "./widgets.js";

const SHOWN = 40;

/** Whether a schema input (or output) of type `slotType` can take / give `type`. */
function fits(slotType, type) {
  if (slotType === "*" || type === "*") return true;
  return String(slotType).split(",").includes(type) || String(type).split(",").includes(slotType);
}

/** Which schemas a dropped link of `wants` ({input: T} or {output: T}) can connect to. */
export function linkFilter(wants) {
  if (wants?.input) return (schema) => schema.inputs.some((i) => fits(acceptedTypes(i), wants.input));
  if (wants?.output) return (schema) => schema.outputs.some((o) => fits(wants.output, o.type));
  return () => true;
}

export class NodeSearch {
  constructor(schemas) {
    this.schemas = schemas; // () => {type: schema}
    this.box = null;
  }

  /** Show the box at (x, y); `place(type)` adds the chosen node. */
  open({ x, y, wants, place }) {
    this.close();
    const box = document.createElement("div");
    box.className = "node-search";
    box.setAttribute("role", "dialog");
    box.setAttribute("aria-label", "Search nodes");
    const field = document.createElement("input");
    field.type = "search";
    field.placeholder = "Search nodes (name, category, description)";
    field.setAttribute("aria-label", "Search nodes");
    const filter = document.createElement("div");
    filter.className = "node-search-filter";
    if (wants) filter.textContent = wants.input ? `takes ${wants.input}` : `gives ${wants.output}`;
    const list = document.createElement("ul");
    list.setAttribute("role", "listbox");
    box.append(field, filter, list);
    document.body.append(box);
    const left = Math.min(Math.max(8, x - 20), innerWidth - box.offsetWidth - 8);
    const top = Math.min(Math.max(8, y - 20), innerHeight - 380);
    Object.assign(box.style, { left: `${left}px`, top: `${Math.max(8, top)}px` });

    let results = [];
    let active = 0;
    const pick = (index) => {
      const chosen = results[index];
      this.close();
      if (chosen) place(chosen.type);
    };
    const render = () => {
      results = rankTypes(field.value, this.schemas(), linkFilter(wants)).slice(0, SHOWN);
      active = Math.min(active, Math.max(0, results.length - 1));
      list.replaceChildren(...results.map((found, i) => {
        const item = document.createElement("li");
        item.setAttribute("role", "option");
        item.dataset.type = found.type;
        if (i === active) item.setAttribute("aria-selected", "true");
        const name = document.createElement("strong");
        name.textContent = found.schema.display_name || found.type;
        const where = document.createElement("span");
        where.className = "where";
        where.textContent = found.schema.category || "";
        const about = document.createElement("span");
        about.className = "about";
        about.textContent = (found.schema.description || "").split("\n")[0];
        item.append(name, where, about);
        item.addEventListener("pointerdown", (event) => {
          event.preventDefault();
          pick(i);
        });
        return item;
      }));
      if (!results.length) {
        const none = document.createElement("li");
        none.className = "none";
        none.textContent = "No node matches.";
        list.append(none);
      }
      list.children[active]?.scrollIntoView?.({ block: "nearest" });
    };
    field.addEventListener("input", () => {
      active = 0;
      render();
    });
    field.addEventListener("keydown", (event) => {
      event.stopPropagation(); // typing here is a query, not canvas shortcuts
      if (event.key === "ArrowDown" || event.key === "ArrowUp") {
        event.preventDefault();
        const step = event.key === "ArrowDown" ? 1 : -1;
        active = (active + step + results.length) % Math.max(1, results.length);
        render();
      } else if (event.key === "Enter") {
        event.preventDefault();
        pick(active);
      } else if (event.key === "Escape") {
        this.close();
      }
    });
    this.outside = (event) => {
      if (!box.contains(event.target)) this.close();
    };
    setTimeout(() => document.addEventListener("pointerdown", this.outside, true));
    this.box = box;
    render();
    field.focus();
  }

  close() {
    if (!this.box) return;
    document.removeEventListener("pointerdown", this.outside, true);
    this.box.remove();
    this.box = null;
  }

  get isOpen() {
    return this.box != null;
  }
}
