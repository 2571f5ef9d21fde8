// Editor extensions shipped by node packs: ES modules whose `setup(nodeflow)` gets the API
// below (docs/custom-nodes.md, "Editor extensions"). Each extension gets an API object of its
// own that records what it registers, so that `serve --dev` can take everything back and
// import the changed modules afresh without a page reload.
import { api, messageListeners } from "./api.js";
import { el } from "./dom.js";

export class Extensions {
  constructor({ editor, notify }) {
    this.editor = editor;
    this.notify = notify;
    this.loaded = [];          // URLs imported and set up
    this.typeHooks = new Set(); // (type, schema) => void
    this.disposers = [];        // undo every registration of the loaded extensions
    this.generation = 0;        // a fresh module URL on each reload
    this.comfyLoaded = new Set();
    this.panels = new Map();    // sidebar panels by id
    this.reopen = [];           // ids of the panels to open again after a reload
  }

  /** Import every listed extension; ComfyUI packs' scripts only once (they register with
   * ComfyUI's `app`, which keeps them). Returns the URLs set up. */
  async load() {
    let listing = { extensions: [], comfyui: [] };
    try {
      listing = await api.extensionListing();
    } catch (error) {
      this.notify(`editor extensions not loaded: ${error.message}`, "error");
    }
    const comfy = new Set(listing.comfyui ?? []);
    this.loaded = [];
    this.loading = true;
    for (const url of listing.extensions) {
      if (comfy.has(url) && this.comfyLoaded.has(url)) {
        this.loaded.push(url);
        continue;
      }
      try {
        const module = await import(this.generation ? `${url}?v=${this.generation}` : url);
        if (comfy.has(url)) this.comfyLoaded.add(url);
        else await module.setup?.(this.#apiFor(url));
        this.loaded.push(url);
      } catch (error) {
        this.notify(`editor extension ${url} failed: ${error.message}`, "error");
      }
    }
    this.loading = false;
    return this.loaded;
  }

  /** The packs were reloaded: drop what the extensions registered and import them again. */
  async reload() {
    this.reopen = [...document.querySelectorAll(".ext-panel.open")].map((p) => p.id.slice(4));
    for (const dispose of this.disposers.splice(0)) dispose();
    this.generation += 1;
    return this.load();
  }

  /** Tell the extensions about the node types the editor registered (at start, on reload);
   * then the panels open before a reload open again, drawn with what the hooks learnt. */
  typesRegistered(schemas) {
    for (const hook of this.typeHooks) {
      for (const [type, schema] of Object.entries(schemas)) {
        guard(() => hook(type, schema), "onNodeTypeRegistered");
      }
    }
    for (const id of this.reopen.splice(0)) this.panels.get(id)?.open();
  }

  #apiFor(url) {
    const { editor, notify } = this;
    const keep = (undo) => this.disposers.push(undo);
    const inList = (list, item) => {
      list.push(item);
      keep(() => list.splice(list.indexOf(item), 1));
    };
    return {
      api, notify,
      /** Widgets for inputs declared with Field(widget=name) (or of input type `name`). */
      registerWidget: (name, factory) => {
        editor.registerWidget(name, factory);
        keep(() => editor.customWidgets.delete(name));
      },
      /** `draw(ctx, view)` after each node is drawn. */
      onDrawNode: (draw) => inList(editor.drawHooks, draw),
      /** `handler(data)` for each `ctx.send(event, data)` of a node. */
      onMessage: (event, handler) => {
        const listener = (type, data) => { if (type === event) guard(() => handler(data), url); };
        messageListeners.add(listener);
        keep(() => messageListeners.delete(listener));
      },
      /** `hook(type, schema)` for every node type the editor has, now and after a reload. */
      onNodeTypeRegistered: (hook) => {
        this.typeHooks.add(hook);
        keep(() => this.typeHooks.delete(hook));
        if (this.loading) return; // the editor calls typesRegistered once the types are in
        for (const [type, schema] of Object.entries(editor.installed ?? {})) {
          guard(() => hook(type, schema), "onNodeTypeRegistered");
        }
      },
      /** `hook(view)` whenever a node joins the graph: added, pasted or loaded. */
      onNodeCreated: (hook) => inList(editor.createdHooks, hook),
      /** An entry in a node's right-click menu: `{label, callback(view), types?}` (all node
       * types when `types` is left out). */
      addNodeMenuItem: ({ label, callback, types }) => inList(editor.menuHooks, (view) => (
        !types || types.includes(view.type) ? { content: label, callback: () => callback(view) }
          : null)),
      /** A panel at the right with a toolbar button `title`; `render(element)` fills it (again
       * whenever it is opened). Returns {element, open(), close()}. */
      addSidebarPanel: ({ id, title, render }) => {
        const panel = sidebarPanel(id, title, render);
        this.panels.set(id, panel);
        keep(() => {
          panel.remove();
          this.panels.delete(id);
        });
        return panel;
      },
    };
  }
}

function guard(fn, where) {
  const failed = (error) => console.error(`an editor extension failed in ${where}`, error);
  try {
    fn()?.catch?.(failed); // an async hook's failure too
  } catch (error) {
    failed(error);
  }
}

function sidebarPanel(id, title, render) {
  const element = el("aside", { id: `ext-${id}`, class: "panel right ext-panel",
                                "aria-label": title });
  const button = el("button", { "data-ext-panel": id, title, "aria-pressed": "false" }, title);
  const refill = () => guard(() => render(element), `the ${title} panel`);
  const panel = {
    element,
    open() {
      element.classList.add("open");
      button.setAttribute("aria-pressed", "true");
      refill();
    },
    close() {
      element.classList.remove("open");
      button.setAttribute("aria-pressed", "false");
    },
    remove() {
      element.remove();
      button.remove();
    },
  };
  button.addEventListener("click", () => (element.classList.contains("open") ? panel.close()
    : panel.open()));
  document.getElementById("settings-button").before(button);
  document.querySelector("main").append(element);
  return panel;
}
