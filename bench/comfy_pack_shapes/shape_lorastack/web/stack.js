// Rows of the stacker as widgets (one per LoRA) and a text widget for LORA_TEXT inputs.
import { app } from "../../scripts/app.js";

app.registerExtension({
  name: "shape.lorastack",
  nodeCreated(node) {
    if (node.comfyClass !== "Lora Stacker (shape)") return;
    node.addWidget("button", "Add LoRA", null, () => {
      const count = node.widgets.filter((w) => w.name.startsWith("lora_")).length + 1;
      node.addWidget("text", `lora_${count}`, "", () => {});
    });
  },
  getCustomWidgets() {
    return { LORA_TEXT: (node, name) => ({ widget: node.addWidget("text", name, "", () => {}) }) };
  },
});
