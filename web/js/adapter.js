// The one module that talks to the canvas library (@comfyorg/litegraph). Everything else
// speaks in plain node specs:
//   {id, type, version, values: {input: literal}, links: {input: {node, output}},
//    ui: {pos, size, title, collapsed}, controls: {input: mode}, meta}
// `meta` is opaque here: the caller's bookkeeping, kept on the node and handed back.
import { LGraph, LGraphCanvas, LGraphGroup, LGraphNode, LLink, LiteGraph } from "../vendor/litegraph/litegraph.es.js";
import { CONTROL_MODES, isImageInput, widgetSpecs } from "./widgets.js";
import { buildFamilies, growTo, syncFamilies } from "./families.js";

const PLACEHOLDER_COLOR = "#6b2b2b";
const ERROR_COLOR = "#ff4d4d";
const RUNNING_COLOR = "#4caf50";
const MISSING = " (not installed)";
const BYPASS_COLOR = "#9b4dca";
// LiteGraph's node modes as the workflow file names them (ComfyUI saves the numbers)
const MODE_NUMBERS = { mute: 2, bypass: 4 };
const MODE_NAMES = { 2: "mute", 4: "bypass" };

export class Editor {
  constructor(canvasElement, hooks) {
    this.hooks = hooks; // {changed(), upload(node, input), editText(rect, value, done)}
    this.schemas = {};
    this.graph = new LGraph();
    this.canvas = new LGraphCanvas(canvasElement, this.graph);
    this.canvas.allow_searchbox = true;
    this.canvas.show_info = false;
    this.canvas.render_canvas_border = false;
    LiteGraph.release_link_on_empty_shows_menu = true;
    LiteGraph.alt_drag_do_clone_nodes = true;
    // One search for every way in (double-click, Add node, a link dropped on empty canvas):
    // ours ranks by display name, category and description and filters by the link's type.
    this.canvas.showSearchBox = (event, options) => this.#search(event, options ?? {});
    this.canvas.showConnectionMenu = (options) => this.#search(options.e, {
      node_from: options.nodeFrom, slot_from: options.slotFrom,
      node_to: options.nodeTo, slot_to: options.slotTo });
    this.canvas.getMenuOptions = () => this.#canvasMenu();
    this.graph.onAfterChange = () => hooks.changed();
    this.graph.onNodeAdded = (node) => this.#adopt(node);
    this.graph.onNodeRemoved = () => hooks.changed();
    this.running = null;
    this.customWidgets = new Map(); // extension widgets: name -> factory
    this.drawHooks = [];            // extension drawing: (ctx, view) => void
    this.createdHooks = [];         // extensions: (view) => void when a node joins the graph
    this.menuHooks = [];            // extensions: (view) => menu entry or null
    this.frameHooks = [];           // panels that follow the canvas: () => void
    // A double-click on a subgraph node's title opens it. The browser's own dblclick: the
    // canvas's (300 ms between presses) misses slow ones and takes a right-click followed by
    // a click for one.
    canvasElement.addEventListener("dblclick", (event) => {
      const [x, y] = this.#toGraph(event.clientX, event.clientY);
      const node = this.graph.getNodeOnPos(x, y, this.canvas.visible_nodes);
      if (node?.nf?.schema?.subgraph && y < node.pos[1]) this.hooks.openSubgraph(node.nf.id);
    });
    this.canvas.onDrawForeground = () => {
      for (const draw of this.frameHooks) draw();
    };
  }

  /** For editor extensions: a widget kind drawn by `factory({name, label, value, changed})`,
   * which returns a litegraph custom widget ({type, name, value, draw, mouse?, computeSize?}). */
  registerWidget(name, factory) {
    this.customWidgets.set(name, factory);
  }

  /** For editor extensions: `draw(ctx, {type, id, values, size})` after each node is drawn. */
  onDrawNode(draw) {
    this.drawHooks.push(draw);
  }

  /** What extensions see of a node: its type, id, title, size and input values, and
   * `setValue(input, value)` (an edit like the user's, undoable). */
  view(node) {
    const editor = this;
    return {
      type: node.nf.type,
      get id() { return node.nf.id; },
      get title() { return node.title; },
      get size() { return [...node.size]; },
      get values() {
        return Object.fromEntries((node.widgets ?? []).filter((w) => w.nfInput)
          .map((w) => [w.nfInput, w.value]));
      },
      setValue(input, value) {
        const widget = (node.widgets ?? []).find((w) => w.nfInput === input);
        if (!widget) throw new Error(`${node.nf.type} has no input ${input} with a widget`);
        widget.value = value;
        widget.callback?.(value);
        editor.hooks.changed();
        editor.redraw();
      },
    };
  }

  // -- node types ---------------------------------------------------------------------------

  registerTypes(schemas) {
    this.installed = schemas;
    this.local = {};
    this.schemas = { ...schemas };
    const colors = {};
    for (const schema of Object.values(schemas)) {
      for (const out of schema.outputs) if (out.color) colors[out.type] = out.color;
    }
    Object.assign(LGraphCanvas.link_type_colors, colors);
    Object.assign(this.canvas.default_connection_color_byType, colors);
    this.colors = colors;
    for (const [type, schema] of Object.entries(schemas)) this.#registerType(type, schema);
  }

  /** Node types of the open workflow (its subgraphs; `hidden`: the boundary nodes inside
   * one, not offered in menus) besides the installed ones; a local type wins over an
   * installed one of the same name while it is there. */
  setLocalTypes(local, hidden = {}) {
    for (const type of Object.keys(this.local)) {
      if (type in local || type in hidden) continue;
      if (type in this.installed) this.#registerType(type, this.installed[type]);
      else LiteGraph.unregisterNodeType(type);
    }
    this.local = { ...local, ...hidden };
    this.schemas = { ...this.installed, ...local };
    for (const [type, schema] of Object.entries(this.local)) {
      this.#registerType(type, schema, type in hidden);
    }
  }

  #registerType(type, schema, hidden = false) {
    const editor = this;
    class SchemaNode extends LGraphNode {
      static title = schema.display_name || type;
      static category = schema.category || "other";
      static description = schema.description;
      static skip_list = hidden;
      constructor(title) {
        super(title ?? SchemaNode.title);
        editor.#build(this, schema);
      }

      getMenuOptions(canvas) {
        return editor.#nodeMenu(this, canvas);
      }
    }
    LiteGraph.registerNodeType(type, SchemaNode);
    SchemaNode.category = schema.category || "other"; // registering sets it from the type name
  }

  #build(node, schema) {
    node.nf = { type: schema.type, schema, meta: null, values: {}, images: [], errors: [] };
    node.serialize_widgets = true;
    for (const spec of widgetSpecs(schema, this.customWidgets)) {
      if (spec.kind === "socket") {
        node.addInput(spec.name, spec.type, { label: spec.label });
        continue;
      }
      const widget = this.#addWidget(node, spec);
      // every widget input can also take a link of its type (a primitive, another output)
      node.addInput(spec.name, spec.accepts, { widget: { name: spec.name }, label: spec.label });
      if (spec.control) {
        const control = node.addWidget("combo", "after each run", "fixed",
                                       () => {}, { values: CONTROL_MODES });
        control.nfControlFor = spec.name;
        widget.nfControl = control;
      }
    }
    buildFamilies(node);
    for (const out of schema.outputs) {
      node.addOutput(out.name, out.type, { color_on: out.color, color_off: out.color });
    }
    node.onConnectionsChange = () => {
      this.#syncWidgetSlots(node);
      // the canvas is still inside its connect/disconnect: change the slots after it
      if (node.nf.schema.families) setTimeout(() => { if (syncFamilies(node)) this.redraw(); });
    };
    node.onDrawForeground = (ctx) => this.#drawState(node, ctx);
    node.onDrawBackground = (ctx) => this.#drawImages(node, ctx);
    if (schema.boundary) {
      node.clonable = false;
      node.block_delete = true;
    }
    const size = node.computeSize();
    node.setSize([Math.max(size[0], node.widgets?.length ? 280 : 200), size[1]]);
  }

  #addWidget(node, spec) {
    const changed = (value) => {
      if (spec.kind === "int") widget.value = Math.round(value);
      if (spec.kind === "image" && node.nf.id) this.hooks.imagePicked(node.nf.id, value);
      this.hooks.changed();
    };
    let widget;
    if (spec.kind === "custom") {
      widget = node.addCustomWidget(this.customWidgets.get(spec.widget)({
        name: spec.name, label: spec.label, value: spec.default, changed }));
    } else if (spec.kind === "int" || spec.kind === "float") {
      widget = node.addWidget("number", spec.name, spec.default, changed, {
        min: spec.min, max: spec.max, step2: spec.step, step: spec.step * 10,
        precision: spec.precision, round: spec.kind === "int" ? 1 : undefined });
    } else if (spec.kind === "combo" || spec.kind === "image") {
      widget = node.addWidget("combo", spec.name, spec.default, changed,
                              { values: () => this.#choices(node, spec) });
    } else if (spec.kind === "toggle") {
      widget = node.addWidget("toggle", spec.name, spec.default, changed, {});
    } else if (spec.kind === "multiline") {
      widget = node.addCustomWidget(this.#textBox(node, spec, changed));
    } else {
      widget = node.addWidget("text", spec.name, spec.default, changed, {});
    }
    widget.label = spec.label;
    widget.nfInput = spec.name;
    if (spec.kind === "image") {
      const button = node.addWidget("button", "choose file to upload", null,
                                    () => this.hooks.upload(node, spec.name), {});
      button.nfUploadFor = spec.name;
    }
    return widget;
  }

  #choices(node, spec) {
    const list = node.nf.schema.inputs.find((i) => i.name === spec.name)?.choices ?? [];
    const value = node.widgets?.find((w) => w.nfInput === spec.name)?.value;
    return value != null && value !== "" && !list.includes(value) ? [value, ...list] : list;
  }

  // A prompt box: the text drawn wrapped over several lines; a click edits it in place.
  #textBox(node, spec, changed) {
    const editor = this;
    return {
      type: "nodeflow-text", name: spec.name, value: spec.default ?? "", options: {},
      computeSize(width) { return [width ?? 200, 84]; },
      draw(ctx, _node, width, y, _h) {
        const h = 80;
        ctx.fillStyle = "#1b1b1b";
        ctx.strokeStyle = "#555";
        ctx.beginPath();
        ctx.roundRect(10, y, width - 20, h, 6);
        ctx.fill();
        ctx.stroke();
        ctx.fillStyle = this.value ? "#ddd" : "#777";
        ctx.font = "12px sans-serif";
        ctx.textAlign = "left";
        const lines = wrap(ctx, this.value || spec.label || spec.name, width - 36);
        lines.slice(0, 5).forEach((line, i) => ctx.fillText(line, 18, y + 18 + i * 14));
      },
      onPointerDown(pointer, target) {
        // Open on the click's release: the canvas takes the focus back while it handles the
        // press, so a text field opened then would lose the focus (and close) at once.
        pointer.onClick = () => setTimeout(() => {
          const rect = editor.#screenRect(target, [10, this.y, target.size[0] - 20, 80]);
          editor.hooks.editText(rect, this.value, (text) => {
            if (text === this.value) return;
            this.value = text;
            changed(text);
            editor.redraw();
          });
        });
        return true;
      },
    };
  }

  /** Where the box (x, y, w, h) of a node (in its own units) is on the screen, for elements
   * drawn over the canvas (a ComfyUI pack's DOM widgets). */
  screenRect(node, box) {
    return this.#screenRect(node, box);
  }

  #screenRect(node, [x, y, w, h]) {
    const { offset, scale } = this.canvas.ds;
    const box = this.canvas.canvas.getBoundingClientRect();
    return { left: box.left + (node.pos[0] + x + offset[0]) * scale,
             top: box.top + (node.pos[1] + y + offset[1]) * scale,
             width: w * scale, height: h * scale, scale };
  }

  #syncWidgetSlots(node) {
    for (const input of node.inputs ?? []) {
      if (!input.widget) continue;
      const widget = node.widgets?.find((w) => w.name === input.widget.name);
      if (widget) widget.disabled = input.link != null;
    }
    this.hooks.changed();
  }

  // -- nodes ----------------------------------------------------------------------------------

  #adopt(node) {
    if (!node.nf) return;
    this.hooks.changed();
    if (!this.createdHooks.length) return;
    setTimeout(() => { // after changed() gave a new node its id
      for (const created of this.createdHooks) {
        try {
          created(this.view(node));
        } catch (error) {
          console.error("an editor extension failed in onNodeCreated", error);
        }
      }
    });
  }

  /** Give every node without an id (new, pasted) or with a taken one a fresh id. */
  assignIds(newId) {
    const taken = new Set();
    for (const node of this.nodes()) {
      if (!node.nf.id || taken.has(node.nf.id)) node.nf.id = newId(node.nf.type, taken);
      taken.add(node.nf.id);
    }
  }

  nodes() {
    return this.graph._nodes.filter((n) => n.nf);
  }

  nodeById(id) {
    return this.nodes().find((n) => n.nf.id === id);
  }

  /** Create a node of `type` (a placeholder when the type is not installed). */
  createNode(spec) {
    let node;
    if (this.schemas[spec.type] || this.local?.[spec.type]) {
      node = LiteGraph.createNode(spec.type);
    } else {
      node = this.#placeholder(spec);
    }
    if (node.nf.schema?.families) growTo(node, Object.keys(spec.links ?? {}));
    node.nf.id = spec.id;
    node.nf.meta = spec.meta ?? null;
    node.nf.version = spec.version;
    const ui = spec.ui ?? {};
    if (ui.pos) node.pos = [...ui.pos];
    if (ui.title) node.title = ui.title + (node.nf.missing ? MISSING : "");
    this.graph.add(node);
    if (ui.size) {
      const least = node.computeSize();
      node.setSize([Math.max(ui.size[0], least[0]), Math.max(ui.size[1], least[1])]);
    }
    if (ui.collapsed && !node.collapsed) node.collapse();
    if (ui.pinned) node.pin(true);
    if (ui.color) node.color = ui.color;
    if (ui.bgcolor) node.bgcolor = ui.bgcolor;
    node.mode = MODE_NUMBERS[spec.mode] ?? 0;
    for (const widget of node.widgets ?? []) {
      if (widget.nfInput && widget.nfInput in (spec.values ?? {})) {
        widget.value = spec.values[widget.nfInput];
      }
      if (widget.nfControl) widget.nfControl.value = spec.controls?.[widget.nfInput] ?? "fixed";
    }
    node.nf.values = { ...(spec.values ?? {}) };
    const extra = node.nf.schema?.extra_inputs;
    for (const name of Object.keys(spec.links ?? {})) {  // sockets an extension had added
      if (extra && !node.inputs?.some((i) => i.name === name)) node.addInput(name, extra.type);
    }
    configure(node, ui);
    node.nf.widgetsKept = restoreExtensionWidgets(node, ui);
    return node;
  }

  #placeholder(spec) {
    const node = new LGraphNode(spec.ui?.title ?? spec.type);
    node.nf = { type: spec.type, schema: null, missing: true, values: {}, images: [], errors: [] };
    node.color = PLACEHOLDER_COLOR;
    node.bgcolor = "#3a2020";
    for (const name of Object.keys(spec.links ?? {})) node.addInput(name, "*");
    for (const name of spec.outputNames ?? []) node.addOutput(name, "*");
    for (const [name, value] of Object.entries(spec.values ?? {})) {
      node.addCustomWidget({  // shown, kept, not editable: the type that knows it is missing
        type: "nodeflow-kept", name, value, options: {},
        draw(ctx, _node, width, y, h) {
          ctx.fillStyle = "#c9a0a0";
          ctx.font = "12px sans-serif";
          ctx.fillText(`${name}: ${JSON.stringify(value)}`, 14, y + h * 0.7, width - 28);
        },
      });
    }
    node.clonable = false;
    node.getMenuOptions = () => this.#nodeMenu(node);
    node.title = spec.type + MISSING;
    node.onDrawForeground = (ctx) => this.#drawState(node, ctx);
    node.setSize([Math.max(240, node.computeSize()[0]), node.computeSize()[1]]);
    return node;
  }

  connect(fromId, outputName, toId, inputName) {
    const from = this.nodeById(fromId);
    const to = this.nodeById(toId);
    if (!from || !to) return false;
    const out = from.outputs.findIndex((o) => o.name === outputName);
    const inp = to.inputs.findIndex((i) => i.name === inputName);
    if (out < 0 || inp < 0) return false;
    return from.connect(out, to, inp) != null;
  }

  /** Reroute points on the link into `inputName` of node `id`, from its source onwards. */
  addReroutes(id, inputName, points) {
    const node = this.nodeById(id);
    const input = node?.inputs?.find((i) => i.name === inputName);
    const link = input?.link != null && (this.graph.links.get?.(input.link) ?? this.graph.links[input.link]);
    if (!link) return;
    for (const point of points) this.graph.createReroute([point[0], point[1]], link);
  }

  clear() {
    this.graph.clear();
  }

  /** Every node as a spec (values from widgets, links by name). */
  readNodes() {
    return this.nodes().map((node) => {
      const values = {};
      const links = {};
      const controls = {};
      if (node.nf.missing) Object.assign(values, node.nf.values);
      // a node taking inputs of any name: its extension widgets' values are inputs
      const declared = node.nf.schema?.extra_inputs &&
        new Set(node.nf.schema.inputs.map((i) => i.name));
      const widgets = {};
      const keep = (name, value) => {
        if (declared && !declared.has(name)) values[name] = value;
        else widgets[name] = value;
      };
      for (const [name, value] of Object.entries(node.nf.widgetsKept?.named ?? {})) keep(name, value);
      (node.widgets ?? []).forEach((widget, index) => {
        if (widget.nfInput && !node.nf.missing) values[widget.nfInput] = widgetValue(node, widget, index);
        if (widget.nfControl) controls[widget.nfInput] = widget.nfControl.value;
        if (isExtensionWidget(widget)) keep(widget.name, widgetValue(node, widget, index));
      });
      const reroutes = {};
      for (const input of node.inputs ?? []) {
        if (input.link == null) continue;
        const link = this.graph.links.get?.(input.link) ?? this.graph.links[input.link];
        const source = link && this.graph.getNodeById(link.origin_id);
        if (!source?.nf) continue;
        links[input.name] = { node: source.nf.id, output: source.outputs[link.origin_slot].name };
        delete values[input.name];
        const points = LLink.getReroutes(this.graph, link).map((r) => Array.from(r.pos, Math.round));
        if (points.length) reroutes[input.name] = points;
      }
      return {
        id: node.nf.id, type: node.nf.type, version: node.nf.version, meta: node.nf.meta,
        schema: node.nf.schema, missing: !!node.nf.missing, values, links, controls,
        mode: MODE_NAMES[node.mode],
        ui: { pos: Array.from(node.pos, Math.round), size: Array.from(node.size, Math.round),
              title: node.nf.missing ? node.title.replace(MISSING, "") : node.title,
              collapsed: !!node.collapsed, pinned: !!node.pinned, reroutes, widgets,
              comfyWidgets: node.nf.widgetsKept?.positional,
              color: node.nf.missing ? undefined : node.color,
              bgcolor: node.nf.missing ? undefined : node.bgcolor },
      };
    });
  }

  isImageInput(type, name) {
    const input = this.schemas[type]?.inputs.find((i) => i.name === name);
    return !!input && isImageInput(input);
  }

  /** A new choice for a combo input of every node of that type (an uploaded image). */
  addChoice(node, input, value) {
    const choices = node.nf.schema?.inputs.find((i) => i.name === input)?.choices;
    if (choices && !choices.includes(value)) choices.push(value);
  }

  /** Set a widget as the user would: its callback runs. */
  setWidget(node, input, value) {
    const widget = node.widgets?.find((w) => w.nfInput === input);
    if (!widget) return;
    widget.value = value;
    widget.callback?.(value, this.canvas, node);
    this.redraw();
  }

  handleKey(event) {
    this.canvas.processKey(event);
  }

  resize() {
    this.canvas.resize();
    this.redraw();
  }

  setValue(id, input, value) {
    const widget = this.nodeById(id)?.widgets?.find((w) => w.nfInput === input);
    if (widget) widget.value = value;
    this.redraw();
  }

  // -- groups and view -------------------------------------------------------------------------

  readGroups() {
    return this.graph._groups.map((g) => ({ title: g.title, bounding: Array.from(g._bounding, Math.round),
                                            color: g.color }));
  }

  addGroup({ title, bounding, color }) {
    const group = new LGraphGroup(title);
    group._bounding.set(bounding);
    if (color) group.color = color;
    this.graph.add(group);
  }

  readView() {
    return { offset: [...this.canvas.ds.offset].map((v) => Math.round(v * 100) / 100),
             scale: Math.round(this.canvas.ds.scale * 1000) / 1000 };
  }

  setView(view) {
    if (!view) {
      this.fitView();
      return;
    }
    this.canvas.ds.offset = [...view.offset];
    this.canvas.ds.scale = view.scale;
  }

  /** Show every node (the view of a file that has none). */
  fitView() {
    const nodes = this.nodes();
    if (!nodes.length) return;
    const box = this.canvas.canvas.getBoundingClientRect();
    if (!box.width) return;
    const left = Math.min(...nodes.map((n) => n.pos[0])) - 30;
    const top = Math.min(...nodes.map((n) => n.pos[1])) - 60;
    const right = Math.max(...nodes.map((n) => n.pos[0] + n.size[0])) + 30;
    const bottom = Math.max(...nodes.map((n) => n.pos[1] + n.size[1])) + 30;
    const scale = Math.min(1, box.width / (right - left), box.height / (bottom - top));
    this.canvas.ds.scale = scale;
    this.canvas.ds.offset = [-left + (box.width / scale - (right - left)) / 2, -top];
  }

  redraw() {
    this.canvas.setDirty(true, true);
  }

  focus() {
    this.canvas.canvas.focus();
  }

  /** Lay out nodes that have no position: left to right by depth. */
  layout(specs) {
    const depth = {};
    const find = (id, seen = new Set()) => {
      if (id in depth) return depth[id];
      if (seen.has(id)) return 0;
      seen.add(id);
      const spec = specs.find((s) => s.id === id);
      const parents = Object.values(spec?.links ?? {}).map((l) => l.node);
      depth[id] = parents.length ? 1 + Math.max(...parents.map((p) => find(p, seen))) : 0;
      return depth[id];
    };
    const rows = {};
    for (const spec of specs) {
      if (spec.ui?.pos) continue;
      const d = find(spec.id);
      rows[d] = (rows[d] ?? 0) + 1;
      spec.ui = { ...spec.ui, pos: [40 + d * 300, 40 + (rows[d] - 1) * 220] };
    }
  }

  // -- run state -------------------------------------------------------------------------------

  setRunning(id, progress = null) {
    for (const node of this.nodes()) node.nf.running = node.nf.id === id;
    const node = id == null ? null : this.nodeById(id);
    if (node) node.nf.progress = progress;
    this.redraw();
  }

  setProgress(id, value, max) {
    const node = this.nodeById(id);
    if (node) node.nf.progress = max ? value / max : null;
    this.redraw();
  }

  setImages(id, urls) {
    const node = this.nodeById(id);
    if (!node) return;
    node.nf.images = urls.map((url) => {
      const img = new Image();
      img.onload = () => this.redraw();
      img.src = url;
      return img;
    });
    node.nf.imageUrls = urls;
    if (urls.length && node.size[1] < node.computeSize()[1] + 200) {
      node.setSize([Math.max(node.size[0], 260), node.computeSize()[1] + 220]);
    }
    this.redraw();
  }

  /** How long node `id` took in the last run, in seconds (null: it came from the cache). */
  setTime(id, seconds) {
    const node = this.nodeById(id);
    if (node) node.nf.time = seconds === null ? "cached" : formatSeconds(seconds);
    this.redraw();
  }

  clearTimes() {
    for (const node of this.nodes()) delete node.nf.time;
    this.redraw();
  }

  timeOf(id) {
    return this.nodeById(id)?.nf.time ?? null;
  }

  setNote(id, text) {
    const node = this.nodeById(id);
    if (node) node.nf.note = text;
    this.redraw();
  }

  imageUrls(id) {
    return this.nodeById(id)?.nf.imageUrls ?? [];
  }

  /** errors: {nodeId: [{input, message}]} */
  setErrors(errors) {
    for (const node of this.nodes()) node.nf.errors = errors[node.nf.id] ?? [];
    this.redraw();
  }

  /** Nodes a run needed but did not run (a lazy branch not taken): drawn dimmed. */
  setDimmed(ids) {
    const dimmed = new Set(ids);
    let any = false;
    for (const node of this.nodes()) {
      any ||= !!node.nf.dimmed || dimmed.has(node.nf.id);
      node.nf.dimmed = dimmed.has(node.nf.id);
    }
    if (any) this.redraw();
  }

  isDimmed(id) {
    return !!this.nodeById(id)?.nf.dimmed;
  }

  errorsOf(id) {
    return this.nodeById(id)?.nf.errors ?? [];
  }

  #drawState(node, ctx) {
    for (const draw of this.drawHooks) {
      try {
        draw(ctx, this.view(node));
      } catch (error) {
        console.error("an editor extension failed to draw", error);
      }
    }
    const { running, progress, errors } = node.nf;
    const h = node.collapsed ? 0 : node.size[1];
    const w = node.collapsed ? (node._collapsed_width ?? 80) : node.size[0];
    const t = LiteGraph.NODE_TITLE_HEIGHT;
    if (MODE_NAMES[node.mode]) {  // bypassed: purple; muted: greyed out, as ComfyUI shows them
      const bypass = node.mode === MODE_NUMBERS.bypass;
      ctx.save();
      ctx.globalAlpha = bypass ? 0.35 : 0.55;
      ctx.fillStyle = bypass ? BYPASS_COLOR : "#111";
      ctx.beginPath();
      ctx.roundRect(0, -t, w, h + t, 8);
      ctx.fill();
      ctx.globalAlpha = 1;
      ctx.font = "bold 11px sans-serif";
      ctx.fillStyle = bypass ? "#e6c8ff" : "#bbb";
      ctx.textAlign = "right";
      ctx.fillText(bypass ? "bypassed" : "muted", w - 8, -t + 19);
      ctx.restore();
    }
    if (node.nf.dimmed) {  // a branch the last run did not take
      ctx.save();
      ctx.globalAlpha = 0.6;
      ctx.fillStyle = "#000";
      ctx.beginPath();
      ctx.roundRect(0, -t, w, h + t, 8);
      ctx.fill();
      ctx.globalAlpha = 1;
      ctx.font = "11px sans-serif";
      ctx.fillStyle = "#999";
      ctx.textAlign = "right";
      ctx.fillText("not run", w - 8, -t + 19);
      ctx.restore();
    }
    if (running || errors.length) {
      ctx.save();
      ctx.lineWidth = 3;
      ctx.strokeStyle = errors.length ? ERROR_COLOR : RUNNING_COLOR;
      ctx.beginPath();
      ctx.roundRect(-4, -t - 4, w + 8, h + t + 8, 10);
      ctx.stroke();
      ctx.restore();
    }
    if (node.nf.note && !node.collapsed && !errors.length) {
      ctx.font = "13px monospace";
      ctx.fillStyle = "#cfe8cf";
      ctx.fillText(node.nf.note, 6, h + 18);
    }
    if (node.nf.time && !running) {  // the last run's time, at the title's right end
      ctx.save();
      ctx.font = "11px monospace";
      ctx.textAlign = "right";
      ctx.fillStyle = node.nf.time === "cached" ? "#888" : "#9fd49f";
      ctx.fillText(node.nf.time, w - 8, -t - 6);
      ctx.restore();
    }
    if (running && progress != null && !node.collapsed) {
      ctx.fillStyle = RUNNING_COLOR;
      ctx.fillRect(0, -4, w * progress, 4);
    }
    if (errors.length && !node.collapsed) {
      ctx.save();
      ctx.font = "12px sans-serif";
      ctx.fillStyle = ERROR_COLOR;
      errors.forEach((e, i) => ctx.fillText((e.input ? `${e.input}: ` : "") + e.message,
                                            4, h + 16 + i * 15));
      for (const e of errors) {
        const widget = node.widgets?.find((wd) => wd.nfInput === e.input);
        const slot = node.inputs?.findIndex((s) => s.name === e.input && !s.widget);
        ctx.strokeStyle = ERROR_COLOR;
        ctx.lineWidth = 2;
        if (widget) {
          ctx.strokeRect(8, widget.y - 1, w - 16, (widget.computedHeight ?? 24) - 2);
        } else if (slot >= 0) {
          const pos = node.getConnectionPos(true, slot);
          ctx.beginPath();
          ctx.arc(pos[0] - node.pos[0], pos[1] - node.pos[1], 7, 0, Math.PI * 2);
          ctx.stroke();
        }
      }
      ctx.restore();
    }
  }

  #drawImages(node, ctx) {
    const images = node.nf.images.filter((img) => img.complete && img.naturalWidth);
    if (!images.length || node.collapsed) return;
    const last = node.widgets?.at(-1);
    const top = last ? last.y + (last.computedHeight ?? 24) + 4 : 8 + (node.inputs?.length ?? 0) * 20;
    const area = [6, top, node.size[0] - 12, node.size[1] - top - 6];
    if (area[3] < 20) return;
    const cols = Math.ceil(Math.sqrt(images.length));
    const rows = Math.ceil(images.length / cols);
    const cw = area[2] / cols;
    const ch = area[3] / rows;
    ctx.imageSmoothingEnabled = false;
    images.forEach((img, i) => {
      const scale = Math.min(cw / img.naturalWidth, ch / img.naturalHeight);
      const iw = img.naturalWidth * scale;
      const ih = img.naturalHeight * scale;
      const x = area[0] + (i % cols) * cw + (cw - iw) / 2;
      const y = area[1] + Math.floor(i / cols) * ch + (ch - ih) / 2;
      ctx.drawImage(img, x, y, iw, ih);
    });
    ctx.imageSmoothingEnabled = true;
  }

  // -- menus and search ------------------------------------------------------------------------

  openSearch(event) {
    const box = this.canvas.canvas.getBoundingClientRect();
    this.#search(event ?? { clientX: box.left + box.width / 2, clientY: box.top + box.height / 3 },
                 {});
  }

  /** Ask the page for a node type (hooks.search), then add it where the search was opened;
   * from a dropped link, connected to it. */
  #search(event, { node_from: from, slot_from: fromSlot, node_to: to, slot_to: toSlot }) {
    const clientX = event?.clientX ?? innerWidth / 2;
    const clientY = event?.clientY ?? innerHeight / 3;
    const fromIndex = from ? slotIndex(from.outputs, fromSlot) : -1;
    const toIndex = to ? slotIndex(to.inputs, toSlot) : -1;
    const wants = fromIndex >= 0 ? { input: from.outputs[fromIndex].type }
      : toIndex >= 0 ? { output: to.inputs[toIndex].type } : null;
    this.hooks.search({
      x: clientX, y: clientY, wants,
      place: (type) => {
        const id = this.addNodeAt(type, clientX, clientY);
        const node = this.nodeById(id);
        if (fromIndex >= 0) {
          const i = node.inputs?.findIndex((slot) => LiteGraph.isValidConnection(
            from.outputs[fromIndex].type, slot.type)) ?? -1;
          if (i >= 0) from.connect(fromIndex, node, i);
        } else if (toIndex >= 0) {
          const o = node.outputs?.findIndex((slot) => LiteGraph.isValidConnection(
            slot.type, to.inputs[toIndex].type)) ?? -1;
          if (o >= 0) node.connect(o, to, toIndex);
        }
        this.hooks.changed();
        return id;
      },
    });
  }

  #canvasMenu() {
    const selected = Object.values(this.canvas.selected_nodes ?? {});
    const options = [
      { content: "Add Node", has_submenu: true, callback: LGraphCanvas.onMenuAdd },
      { content: "Search nodes… (double-click)", callback: (_v, _o, e) => this.#search(e, {}) },
      { content: "Add Group", callback: LGraphCanvas.onGroupAdd },
    ];
    if (selected.length) {
      options.push({ content: "Group selected nodes (Ctrl+G)", callback: () => this.groupSelected() });
      options.push({ content: "Convert to subgraph",
                     callback: () => this.hooks.convertToSubgraph(this.selectedIds()) });
    }
    if (selected.length > 1) {
      options.push({ content: "Align", has_submenu: true, callback: LGraphCanvas.onGroupAlign });
    }
    options.push(null, { content: "Zoom to fit (.)", callback: () => { this.fitView(); this.redraw(); } });
    return options;
  }

  /** Menu entries extensions add for this node, then a separator. */
  #extensionEntries(node) {
    if (!node.nf) return [];
    const entries = [];
    for (const hook of this.menuHooks) {
      try {
        const entry = hook(this.view(node));
        if (entry) entries.push(entry);
      } catch (error) {
        console.error("an editor extension failed in its menu entry", error);
      }
    }
    return entries.length ? [...entries, null] : [];
  }

  #nodeMenu(node) {
    const mode = MODE_NAMES[node.mode] ?? "always";
    const setMode = (name) => {
      for (const target of this.#targets(node)) target.mode = MODE_NUMBERS[name] ?? 0;
      this.hooks.changed();
      this.redraw();
    };
    const subgraph = [];
    if (node.nf?.schema?.subgraph && this.hooks.canOpen(node.nf.type)) {
      subgraph.push({ content: "Open subgraph (double-click the title)",
                      callback: () => this.hooks.openSubgraph(node.nf.id) });
    }
    if (node.nf?.schema?.boundary) {
      const kind = node.nf.schema.boundary;
      const slots = (kind === "inputs" ? node.outputs : node.inputs) ?? [];
      const which = kind === "inputs" ? "input" : "output";
      const pick = (action) => (_v, _o, e, menu) => {
        new LiteGraph.ContextMenu(slots.map((slot) => slot.name), {
          event: e, parentMenu: menu,
          callback: (name) => this.hooks.editBoundary({ kind, action, name }) });
        return false;
      };
      if (slots.length) {
        subgraph.push({ content: `Rename ${which}`, has_submenu: true, callback: pick("rename") },
                      { content: `Remove ${which}`, has_submenu: true, callback: pick("remove") },
                      null);
      }
    } else if (node.nf && this.hooks.inside()) {
      const free = (node.inputs ?? []).filter((slot) => slot.link == null).map((slot) => slot.name);
      const outs = (node.outputs ?? []).map((slot) => slot.name);
      const expose = (kind, names) => (_v, _o, e, menu) => {
        new LiteGraph.ContextMenu(names, { event: e, parentMenu: menu,
          callback: (name) => this.hooks.expose({ id: node.nf.id, kind, name }) });
        return false;
      };
      if (free.length) {
        subgraph.push({ content: "Expose as subgraph input", has_submenu: true,
                        callback: expose("inputs", free) });
      }
      if (outs.length) {
        subgraph.push({ content: "Expose as subgraph output", has_submenu: true,
                        callback: expose("outputs", outs) });
      }
    }
    if (node.nf && !node.nf.schema?.boundary) {
      subgraph.push({ content: "Convert to subgraph", callback: () => this.hooks.convertToSubgraph(
        this.#targets(node).map((n) => n.nf?.id).filter(Boolean)) });
    }
    return [
      ...subgraph,
      ...this.#extensionEntries(node),
      { content: "Title", callback: LGraphCanvas.onShowPropertyEditor },
      { content: `Mode: ${mode}`, has_submenu: true, callback: (_v, _o, e, menu) => {
        new LiteGraph.ContextMenu(["always", "bypass (Ctrl+B)", "mute (Ctrl+M)"], {
          event: e, parentMenu: menu,
          callback: (value) => setMode(value.split(" ")[0]) });
        return false;
      } },
      { content: node.collapsed ? "Expand (Alt+C)" : "Collapse (Alt+C)",
        callback: LGraphCanvas.onMenuNodeCollapse },
      { content: node.pinned ? "Unpin" : "Pin", callback: () => {
        const pinned = !node.pinned;
        for (const target of this.#targets(node)) target.pin(pinned);
        this.hooks.changed();
        this.redraw();
      } },
      { content: "Colors", has_submenu: true, callback: LGraphCanvas.onMenuNodeColors },
      { content: "Resize", callback: LGraphCanvas.onMenuResizeNode },
      null,
      ...(node.clonable === false ? []
        : [{ content: "Clone (Alt+drag)", callback: LGraphCanvas.onMenuNodeClone }]),
      { content: "Remove", callback: LGraphCanvas.onMenuNodeRemove },
    ];
  }

  /** The nodes an action on `node` applies to: the selection when `node` is in it. */
  #targets(node) {
    const selected = Object.values(this.canvas.selected_nodes ?? {});
    return selected.includes(node) ? selected : [node];
  }

  /** Ctrl+B / Ctrl+M: switch the selected nodes to `mode` ("bypass"/"mute"), or back. */
  toggleMode(mode) {
    const nodes = Object.values(this.canvas.selected_nodes ?? {});
    if (!nodes.length) return false;
    const all = nodes.every((n) => n.mode === MODE_NUMBERS[mode]);
    for (const node of nodes) node.mode = all ? 0 : MODE_NUMBERS[mode];
    this.redraw();
    this.hooks.changed();
    return true;
  }

  /** Alt+C: collapse the selected nodes, or expand them when all are collapsed. */
  toggleCollapsed() {
    const nodes = Object.values(this.canvas.selected_nodes ?? {});
    const all = nodes.every((n) => n.collapsed);
    for (const node of nodes) if (!!node.collapsed === all) node.collapse(true);
    this.redraw();
    this.hooks.changed();
    return nodes.length > 0;
  }

  /** Ctrl+G: a group around the selected nodes. */
  groupSelected(title = "Group") {
    const nodes = Object.values(this.canvas.selected_nodes ?? {});
    if (!nodes.length) return false;
    const t = LiteGraph.NODE_TITLE_HEIGHT;
    const pad = 10;
    const left = Math.min(...nodes.map((n) => n.pos[0])) - pad;
    const top = Math.min(...nodes.map((n) => n.pos[1] - t)) - pad - 34;
    const right = Math.max(...nodes.map((n) => n.pos[0] + n.size[0])) + pad;
    const bottom = Math.max(...nodes.map((n) => n.pos[1] + (n.collapsed ? 0 : n.size[1]))) + pad;
    this.addGroup({ title, bounding: [left, top, right - left, bottom - top].map(Math.round) });
    this.redraw();
    this.hooks.changed();
    return true;
  }

  /** What the pointer is over, for a tooltip: the node's description, or an input's or an
   * output's, from the node's schema. Null over empty canvas. */
  describeAt(clientX, clientY) {
    const [x, y] = this.#toGraph(clientX, clientY);
    const node = this.graph.getNodeOnPos(x, y, this.canvas.visible_nodes);
    const schema = node?.nf?.schema;
    if (!schema) return null;
    const local = [x - node.pos[0], y - node.pos[1]];
    const near = (slots, isInput) => slots?.findIndex((slot, i) => {
      const p = node.getConnectionPos(isInput, i);
      return Math.abs(p[0] - x) < 12 && Math.abs(p[1] - y) < 10;
    }) ?? -1;
    const describe = (name, fallback) => {
      const input = schema.inputs.find((i) => i.name === name);
      return input ? `${input.display_name ?? name} (${input.type})` +
        (input.tooltip ? `: ${input.tooltip}` : "") : fallback;
    };
    if (!node.collapsed) {
      const widget = node.widgets?.find((w) => w.nfInput && local[1] >= w.y &&
                                        local[1] < w.y + (w.computedHeight ?? 24));
      if (widget) return describe(widget.nfInput, null);
      const i = near(node.inputs, true);
      if (i >= 0) return describe(node.inputs[i].name, node.inputs[i].name);
      const o = near(node.outputs, false);
      if (o >= 0) return `${node.outputs[o].name} (${node.outputs[o].type})`;
    }
    return `${schema.display_name ?? schema.type}` +
      (schema.description ? `: ${schema.description}` : "");
  }

  /** Where a slot is on the screen (client pixels): for pointer-driven tests and tools. */
  slotPoint(id, name, isInput) {
    const node = this.nodeById(id);
    const slots = isInput ? node.inputs : node.outputs;
    const index = slots.findIndex((s) => s.name === name);
    const [x, y] = node.getConnectionPos(isInput, index);
    return this.#toClient(x, y);
  }

  /** Where a widget's middle (or a node's title) is on the screen. */
  widgetPoint(id, input) {
    const node = this.nodeById(id);
    if (input == null) return this.#toClient(node.pos[0] + 40, node.pos[1] - 15);
    const widget = node.widgets.find((w) => w.nfInput === input || w.name === input);
    return this.#toClient(node.pos[0] + node.size[0] / 2,
                          node.pos[1] + widget.y + (widget.computedHeight ?? 24) / 2 - 2);
  }

  /** The resize handle (bottom-right corner) of a node, on the screen. */
  cornerPoint(id) {
    const node = this.nodeById(id);
    return this.#toClient(node.pos[0] + node.size[0] - 4, node.pos[1] + node.size[1] - 4);
  }

  #toClient(x, y) {
    const { offset, scale } = this.canvas.ds;
    const box = this.canvas.canvas.getBoundingClientRect();
    return { x: box.left + (x + offset[0]) * scale, y: box.top + (y + offset[1]) * scale };
  }

  // -- for panels (node library, minimap) ----------------------------------------------------

  /** Add a node of `type` where the user dropped or clicked it (client pixels); its id. */
  addNodeAt(type, clientX, clientY) {
    const node = LiteGraph.createNode(type);
    if (!node) return null;
    const [x, y] = this.#toGraph(clientX, clientY);
    node.pos = [Math.round(x), Math.round(y)];
    this.graph.add(node);
    this.assignIds(this.hooks.newId);
    this.canvas.selectNode(node);
    this.redraw();
    return node.nf.id;
  }

  /** The part of the graph the canvas shows: [x, y, width, height] in graph units. */
  visibleArea() {
    const { offset, scale } = this.canvas.ds;
    const box = this.canvas.canvas.getBoundingClientRect();
    return [-offset[0], -offset[1], box.width / scale, box.height / scale];
  }

  /** Pan so that the graph point (x, y) is in the middle of the canvas. */
  centerOn(x, y) {
    const [, , w, h] = this.visibleArea();
    this.canvas.ds.offset = [-(x - w / 2), -(y - h / 2)];
    this.redraw();
  }

  /** `draw()` after every frame the canvas draws (a minimap follows the view with it). */
  onFrame(draw) {
    this.frameHooks.push(draw);
  }

  /** Every node's box in graph units, title bar included, and whether it is selected:
   * [[x, y, width, height, selected], ...]. */
  nodeRects() {
    const t = LiteGraph.NODE_TITLE_HEIGHT;
    const selected = new Set(Object.values(this.canvas.selected_nodes ?? {}));
    return this.graph._nodes.map((n) => (n.collapsed
      ? [n.pos[0], n.pos[1] - t, n._collapsed_width ?? 80, t, selected.has(n)]
      : [n.pos[0], n.pos[1] - t, n.size[0], n.size[1] + t, selected.has(n)]));
  }

  /** How links are drawn: "spline", "straight" (right angles) or "linear". */
  setLinkStyle(style) {
    const modes = { spline: LiteGraph.SPLINE_LINK, straight: LiteGraph.STRAIGHT_LINK,
                    linear: LiteGraph.LINEAR_LINK };
    this.canvas.links_render_mode = modes[style] ?? LiteGraph.SPLINE_LINK;
    this.redraw();
  }

  /** Nodes moved with the pointer land on the grid. Only while the pointer is down: the
   * library would snap every node a file adds too, and opening a file must not move them. */
  setSnapToGrid(on) {
    this.snapToGrid = on;
    if (this.snapHooked) return;
    this.snapHooked = true;
    window.addEventListener("pointerdown", (event) => {  // before the canvas sees the press
      if (event.target === this.canvas.canvas) LiteGraph.alwaysSnapToGrid = this.snapToGrid;
    }, true);
    // bubbling to the window comes after the canvas has handled the release
    window.addEventListener("pointerup", () => { LiteGraph.alwaysSnapToGrid = false; });
  }

  /** The "after each run" mode of seed controls on nodes the user adds (a search, the menu,
   * the library). Nodes from a file or the clipboard keep theirs: those set it afterwards. */
  setDefaultControl(mode) {
    LGraphNode.prototype.onNodeCreated = function () {
      for (const widget of this.widgets ?? []) if (widget.nfControlFor) widget.value = mode;
    };
  }

  /** For ComfyUI pack extensions: the class the library made for node type `type`. */
  nodeClass(type) {
    return LiteGraph.registered_node_types[type];
  }

  /** For ComfyUI pack extensions: `created(node, type)` after the library creates any node. */
  onNodeCreated(created) {
    const create = LiteGraph.createNode.bind(LiteGraph);
    LiteGraph.createNode = (type, title, options) => {
      const node = create(type, title, options);
      if (node) created(node, type);
      return node;
    };
  }

  #toGraph(clientX, clientY) {
    const { offset, scale } = this.canvas.ds;
    const box = this.canvas.canvas.getBoundingClientRect();
    return [(clientX - box.left) / scale - offset[0], (clientY - box.top) / scale - offset[1]];
  }

  /** Select node `id` alone (a node the editor just made). */
  select(id) {
    const node = this.nodeById(id);
    this.canvas.deselectAll?.();
    if (node) this.canvas.selectNode(node);
    this.redraw();
  }

  selectedIds() {
    return Object.values(this.canvas.selected_nodes ?? {}).map((n) => n.nf?.id).filter(Boolean);
  }
}

/** A widget a ComfyUI pack's extension added (node.addWidget, addDOMWidget) that is no
 * input: its value is kept in the node's "ui.widgets" by name. Buttons and widgets marked
 * `serialize: false` hold no value. */
export function isExtensionWidget(widget) {
  return !widget.nfInput && !widget.nfControlFor && !widget.nfUploadFor && !!widget.name &&
    widget.type !== "nodeflow-kept" && widget.type !== "button" &&
    widget.options?.serialize !== false && widget.serialize !== false &&
    widget.value !== undefined && typeof widget.value !== "function";
}

/** The value a widget saves: its serializeValue(node, index) when it has one (as ComfyUI's
 * prompt takes it; one that answers with a promise gives its plain value), else its value. */
function widgetValue(node, widget, index) {
  if (typeof widget.serializeValue !== "function") return widget.value;
  const value = widget.serializeValue(node, index);
  return typeof value?.then === "function" ? widget.value : value;
}

/** ComfyUI's onConfigure(info) for a restored node: extensions that make their widgets from
 * the saved values (a row per LoRA) read info.widgets_values, the node's own widget values
 * followed by those its extension widgets held. */
function configure(node, ui) {
  if (typeof node.onConfigure !== "function") return;
  const own = (node.widgets ?? []).filter((w) => w.nfInput).map((w) => w.value);
  const info = { id: node.id, type: node.type, properties: node.properties ?? {},
                 widgets_values: [...own, ...Object.values(ui.widgets ?? {}),
                                  ...(ui.comfyWidgets ?? [])] };
  try {
    node.onConfigure(info);
  } catch (error) {
    console.error(`an extension failed in onConfigure of ${node.type}`, error);
  }
}

/** Put a file's extension widget values back (by name; values imported from ComfyUI's
 * positional widgets_values fill the unnamed ones in order). What no widget took is kept
 * for saving, so a file opened without the pack's extension loses nothing. */
function restoreExtensionWidgets(node, ui) {
  const named = { ...(ui.widgets ?? {}) };
  const positional = [...(ui.comfyWidgets ?? [])];
  // ComfyUI's editor writes a value (null for a button) for every widget, so a list as long as
  // all the extension's widgets lines up with them; a shorter one (nodeflow's export) holds
  // the saved ones only
  const added = (node.widgets ?? []).filter((w) => !w.nfInput && !w.nfControlFor &&
                                                   !w.nfUploadFor && w.type !== "nodeflow-kept");
  const everyWidget = positional.length > 0 && positional.length === added.length;
  for (const widget of node.widgets ?? []) {
    const slot = everyWidget && added.includes(widget);
    if (!isExtensionWidget(widget)) {
      if (slot) positional.shift();
      continue;
    }
    if (widget.name in named) {
      widget.value = named[widget.name];
      delete named[widget.name];
      if (slot) positional.shift();
    } else if (positional.length) {
      widget.value = positional.shift();
    }
  }
  return { named, positional: positional.length ? positional : undefined };
}

function formatSeconds(seconds) {
  return seconds < 1 ? `${Math.round(seconds * 1000)} ms` : `${seconds.toFixed(seconds < 10 ? 2 : 1)} s`;
}

function slotIndex(slots, slot) {
  if (typeof slot === "number") return slot;
  if (typeof slot === "string") return slots?.findIndex((s) => s.name === slot) ?? -1;
  return slots?.indexOf(slot) ?? -1;
}

function wrap(ctx, text, width) {
  const lines = [];
  for (const paragraph of String(text).split("\n")) {
    let line = "";
    for (const word of paragraph.split(" ")) {
      const next = line ? `${line} ${word}` : word;
      if (ctx.measureText(next).width > width && line) {
        lines.push(line);
        line = word;
      } else {
        line = next;
      }
    }
    lines.push(line);
  }
  return lines;
}
