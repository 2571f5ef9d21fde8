// ComfyUI's DOM widgets (node.addDOMWidget(name, type, element, options)) in nodeflow's editor:
// the pack's HTML element lies over the node, where the canvas would draw the widget, and
// follows the view; its value is options.getValue()/setValue() (else the element's value).
// An element is hidden on frames that do not draw its node (scrolled away, collapsed, another
// graph open) and removed with the node.

const shown = new Map(); // element -> the frame number it was last placed in
let frame = 0;
let hooked = false;

function overlay() {
  let layer = document.getElementById("comfy-dom-widgets");
  if (!layer) {
    layer = document.createElement("div");
    layer.id = "comfy-dom-widgets";
    document.body.append(layer);
  }
  return layer;
}

/** Add a DOM widget to `node`; returns the widget, as ComfyUI's addDOMWidget does. */
export function addDOMWidget(editor, node, name, type, element, options = {}) {
  if (!hooked) {
    hooked = true;
    editor.onFrame(() => {
      for (const [el, seen] of shown) el.style.display = seen === frame ? "" : "none";
      frame += 1;
    });
  }
  element.classList.add("comfy-dom-widget");
  element.style.position = "fixed";
  element.style.boxSizing = "border-box";
  element.style.display = "none";
  overlay().append(element);
  shown.set(element, -1);
  const changed = () => editor.hooks.changed();
  element.addEventListener("change", changed);
  element.addEventListener("input", changed);
  const height = () => options.getHeight?.() ?? options.minHeight ?? 32;
  const spec = {
    type, name, element, options, value: undefined,
    computeSize(width) { return [width ?? node.size[0], height() + 4]; },
    draw(_ctx, target, width, y) {
      if (target.collapsed) return;
      const rect = editor.screenRect(target, [10, y + 2, width - 20, height()]);
      Object.assign(element.style, {
        left: `${rect.left}px`, top: `${rect.top}px`, width: `${rect.width}px`,
        height: `${rect.height}px`, fontSize: `${Math.round(12 * rect.scale)}px`,
      });
      shown.set(element, frame);
    },
  };
  // the library copies a custom widget's own properties into a widget object of its own:
  // the value accessors go on the object it keeps
  const widget = node.addCustomWidget(spec) ?? spec;
  Object.defineProperty(widget, "value", {
    configurable: true, enumerable: true,
    get() { return options.getValue ? options.getValue() : element.value; },
    set(v) {
      if (options.setValue) options.setValue(v);
      else if ("value" in element) element.value = v;
    },
  });
  const removed = node.onRemoved;
  node.onRemoved = function () {
    shown.delete(element);
    element.remove();
    return removed?.apply(this, arguments);
  };
  return widget;
}
