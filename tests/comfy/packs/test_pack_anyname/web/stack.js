// The editor side of the LoRA-stack-shaped test pack, written as ComfyUI extensions are: a
// button that adds one row widget (lora_1, lora_2, ...) per click, rows that toggle "on" when
// clicked and save through serializeValue, rows made again from the saved values in
// onConfigure, a DOM widget "tag" and a socket "bonus" that no input declares, and a widget
// for the pack's own TEST_TINT type from getCustomWidgets.
import { app } from "../../scripts/app.js";

const STACK = "LoRA Stack (Test)";

function isRow(value) {
  return value && typeof value === "object" && typeof value.lora === "string";
}

function addRow(node, saved) {
  const count = node.widgets.filter((w) => w.type === "testanyname-row").length + 1;
  node.addCustomWidget({
    name: `lora_${count}`, type: "testanyname-row",
    // "shown" is for drawing only: serializeValue leaves it out of what is saved
    value: { on: saved.on, lora: saved.lora, strength: saved.strength, shown: true },
    computeSize(width) { return [width, 24]; },
    draw(ctx, _node, width, y) {
      ctx.fillStyle = this.value.on ? "#9fd" : "#777";
      ctx.font = "12px sans-serif";
      ctx.fillText(`${this.name}: ${this.value.lora} ${this.value.strength}` +
                   (this.value.on ? "" : " (off)"), 14, y + 16, width - 28);
    },
    mouse(event) {
      if (event.type !== "pointerdown") return false;
      this.value = { ...this.value, on: !this.value.on };
      return true;
    },
    serializeValue() {
      const { shown, ...saved } = this.value;
      return saved;
    },
  });
  node.setSize([node.size[0], node.computeSize()[1]]);
}

app.registerExtension({
  name: "testanyname.stack",
  async beforeRegisterNodeDef(nodeType, nodeData) {
    if (nodeData.name !== STACK) return;
    nodeType.prototype.onConfigure = function (info) {
      for (const value of info.widgets_values ?? []) if (isRow(value)) addRow(this, value);
    };
  },
  nodeCreated(node) {
    if (node.comfyClass !== STACK) return;
    node.addWidget("button", "+ Add LoRA", null, () => {
      addRow(node, { on: true, lora: "a.safetensors", strength: 1.0 });
    });
    const field = document.createElement("input");
    field.className = "testanyname-tag";
    node.addDOMWidget("tag", "text", field, {
      getValue: () => field.value,
      setValue: (value) => { field.value = value; },
      getHeight: () => 26,
    });
    node.addInput("bonus", "*");
  },
  getCustomWidgets() {
    return {
      TEST_TINT(node, inputName) {
        return { widget: node.addWidget("text", inputName, "grey", () => {}) };
      },
    };
  },
});
