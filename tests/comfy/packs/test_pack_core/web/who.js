// The editor side of the test pack, written as ComfyUI extensions are: a DOM widget that
// takes over the "label" input, a widget of its own that is no input ("zoom"), and
// listeners for the pack's own message and for ComfyUI's "executed" and "progress".
import { app } from "../../scripts/app.js";
import { api } from "../../scripts/api.js";

const heard = [];

app.registerExtension({
  name: "testcore.who",
  async init() {
    globalThis.testcoreHeard = heard;
    api.addEventListener("testcore.who", (event) => heard.push(["who", event.detail]));
    api.addEventListener("executed", (event) => heard.push(["executed", event.detail]));
    api.addEventListener("progress", (event) => heard.push(["progress", event.detail]));
    globalThis.testcoreInit = { graph: !!app.graph, setupYet: !!globalThis.testcoreSetup };
  },
  async setup() {
    globalThis.testcoreSetup = { extensions: app.extensions.map((e) => e.name) };
  },
  nodeCreated(node) {
    if (node.comfyClass !== "WhoRuns") return;
    const field = document.createElement("input");
    field.className = "testcore-label";
    node.addDOMWidget("label", "text", field, {
      getValue: () => field.value,
      setValue: (value) => { field.value = value; },
    });
    node.addWidget("number", "zoom", 2, () => {}, { min: 1, max: 9, step: 10, precision: 0 });
  },
});
