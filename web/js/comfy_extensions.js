// ComfyUI frontend extensions (a pack's WEB_DIRECTORY) in nodeflow's editor.
//
// Packs import `app` from "/scripts/app.js" and `api` from "/scripts/api.js" (both re-export
// this module) and call app.registerExtension({...}). Provided hooks: init, setup,
// beforeRegisterNodeDef(nodeType, nodeData, app), nodeCreated(node, app),
// getCustomWidgets(app) (a widget factory is called for inputs of its type), and
// api.addEventListener(type, fn) for messages a node sends (ctx.send / send_sync).
// Widgets an extension adds (node.addWidget, node.addDOMWidget, addCustomWidget) are saved
// with the workflow: one named as an input of the node is that input's value (it takes over
// from the editor's own widget); for a node that takes inputs of any name ("extra_inputs" in
// its schema) every other one is an input too, else it is kept in the node's "ui.widgets".
// A widget's serializeValue(node, index) gives what is saved; onConfigure(info) is called
// when a node is restored, with info.widgets_values.
// Not provided: ComfyUI's Vue components, settings and sidebar APIs, app.ui, graphToPrompt,
// loadedGraphNode (nodeflow graphs are not ComfyUI graphs).
import { messageListeners } from "./api.js";
import { addDOMWidget } from "./dom_widgets.js";

const extensions = [];
const customWidgets = {};
let editorRef = null;

async function each(hook, ...args) {
  for (const ext of extensions) {
    if (typeof ext[hook] !== "function") continue;
    try {
      await ext[hook](...args);
    } catch (error) {
      console.error(`ComfyUI extension ${ext.name} failed in ${hook}:`, error);
    }
  }
}

export const api = new EventTarget();
api.api_base = "";
api.apiURL = (path) => path;
api.fetchApi = (path, options) => fetch(path, options);
messageListeners.add((type, data) => api.dispatchEvent(new CustomEvent(type, { detail: data })));

export const app = {
  extensions,
  api,
  get graph() { return editorRef?.graph; },
  get canvas() { return editorRef?.canvas; },
  registerExtension(extension) {
    if (!extension?.name) throw new Error("a ComfyUI extension needs a name");
    extensions.push(extension);
  },
};

/** ComfyUI's node definition (as /object_info gives it) for a nodeflow schema. */
function nodeData(schema) {
  const required = {};
  const optional = {};
  for (const input of schema.inputs) {
    const options = { ...(input.default !== undefined ? { default: input.default } : {}),
                      ...(input.min !== undefined ? { min: input.min } : {}),
                      ...(input.max !== undefined ? { max: input.max } : {}) };
    (input.required ? required : optional)[input.name] =
      [input.choices ?? input.type, options];
  }
  return {
    name: schema.type, display_name: schema.display_name, category: schema.category,
    description: schema.description, output_node: schema.output_node,
    input: { required, optional }, output: schema.outputs.map((o) => o.type),
    output_name: schema.outputs.map((o) => o.name), python_module: schema.pack,
  };
}

/** After the editor registered its node types: run the extensions' hooks on them. */
export async function attachExtensions(editor, schemas) {
  editorRef = editor;
  if (!extensions.length) return;
  await each("init", app);
  for (const ext of extensions) {
    if (typeof ext.getCustomWidgets !== "function") continue;
    try {
      Object.assign(customWidgets, await ext.getCustomWidgets(app));
    } catch (error) {
      console.error(`ComfyUI extension ${ext.name} failed in getCustomWidgets:`, error);
    }
  }
  for (const [type, schema] of Object.entries(schemas)) {
    const nodeType = editor.nodeClass(type);
    if (!nodeType) continue;
    nodeType.comfyClass = type;
    nodeType.prototype.comfyClass = type;
    nodeType.prototype.addDOMWidget ??= function (name, kind, element, options) {
      return addDOMWidget(editor, this, name, kind, element, options);
    };
    await each("beforeRegisterNodeDef", nodeType, nodeData(schema), app);
  }
  editor.onNodeCreated((node, type) => {
    const schema = schemas[type];
    if (schema) {
      for (const input of schema.inputs) {
        const factory = customWidgets[input.type];
        if (factory) factory(node, input.name, [input.type, input], app);
      }
      for (const ext of extensions) {
        try {
          ext.nodeCreated?.(node, app);
        } catch (error) {
          console.error(`ComfyUI extension ${ext.name} failed in nodeCreated:`, error);
        }
      }
      takeOverInputs(node, schema);
    }
  });
  await each("setup", app);
}

/** A widget an extension added under the name of one of the node's inputs is that input's
 * value from now on (as in ComfyUI, where the last widget of a name is what the prompt gets):
 * the editor's own widget for it is removed. */
function takeOverInputs(node, schema) {
  // a link-only input takes no value (a widget of that name is kept in ui.widgets instead),
  // unless it takes JSON values too (a pack's own type, drawn by its getCustomWidgets)
  const inputs = new Set(schema.inputs.filter((i) => !i.link_only || i.json_value)
    .map((i) => i.name));
  const widgets = node.widgets ?? [];
  for (const widget of [...widgets]) {
    if (widget.nfInput || widget.nfControlFor || widget.nfUploadFor) continue;
    if (!inputs.has(widget.name)) continue;
    const own = widgets.find((w) => w.nfInput === widget.name && w !== widget);
    if (own) {
      widget.nfControl = own.nfControl;
      widgets.splice(widgets.indexOf(own), 1);
    }
    widget.nfInput = widget.name;
    if (widget.value === undefined || widget.value === null || widget.value === "") {
      const input = schema.inputs.find((i) => i.name === widget.name);
      if (input.default !== undefined) widget.value = input.default;
    }
  }
}
