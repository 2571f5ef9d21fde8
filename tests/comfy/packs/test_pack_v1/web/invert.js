// A ComfyUI frontend extension, written as packs write them.
import { app } from "../../scripts/app.js";

app.registerExtension({
  name: "testpack.invert",
  async beforeRegisterNodeDef(nodeType, nodeData) {
    if (nodeData.name === "Invert Image (Test)") {
      const created = nodeType.prototype.onNodeCreated;
      nodeType.prototype.onNodeCreated = function () {
        const r = created?.apply(this, arguments);
        this.color = "#335533";
        this.title = "🧪 Inverted by extension";
        return r;
      };
    }
  },
  async setup() {
    globalThis.testpackSetupRan = app.extensions.length;
  },
  getCustomWidgets() {
    return {
      TESTPACK_NOTE(node, inputName) {
        return { widget: node.addWidget("text", `${inputName} (pack widget)`, "hi", () => {}) };
      },
    };
  },
  nodeCreated(node) {
    if (node.comfyClass === "Invert Image (Test)") node.properties.testpack = "created";
  },
});
