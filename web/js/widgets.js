// Widgets from a node's schema (the "nodeflow" part of /object_info), as plain specs the
// adapter draws. Nothing here knows any node type: only input types and their options.

export const CONTROL_MODES = ["fixed", "randomize", "increment", "decrement"];

// Which link types an input with a widget also accepts (an INT primitive feeds a FLOAT).
const ACCEPTS = { INT: "INT", FLOAT: "FLOAT,INT", STRING: "STRING", BOOLEAN: "BOOLEAN" };

/** The link types an input takes, as litegraph writes them ("FLOAT,INT"). */
export function acceptedTypes(input) {
  return ACCEPTS[input.type] ?? input.type;
}

/** Widget specs for a schema; `custom` holds the widgets extensions registered, chosen by an
 * input's "widget" option (Field(widget=...)), else by its type. */
export function widgetSpecs(schema, custom = new Map()) {
  return schema.inputs.map((input) => {
    const label = input.display_name ?? input.name;
    // link_only: no literal at all; widget "socket": a socket drawn without a widget
    if (input.link_only || input.widget === "socket") {
      return { kind: "socket", name: input.name, type: input.type, label };
    }
    const widget = custom.has(input.widget) ? input.widget : custom.has(input.type) ? input.type : null;
    const spec = { name: input.name, label, default: input.default ?? null,
                   accepts: acceptedTypes(input) };
    if (widget) return { ...spec, kind: "custom", widget };
    if (isImageInput(input)) return { ...spec, kind: "image", default: input.default ?? "" };
    if (input.choices) {
      return { ...spec, kind: "combo", default: input.default ?? input.choices[0] ?? "" };
    }
    if (input.type === "INT" || input.type === "FLOAT") return { ...spec, ...number(input) };
    if (input.type === "BOOLEAN") return { ...spec, kind: "toggle", default: !!input.default };
    if (input.multiline) return { ...spec, kind: "multiline", default: input.default ?? "" };
    return { ...spec, kind: "text", default: input.default ?? "" };
  });
}

function number(input) {
  const int = input.type === "INT";
  const step = input.multiple_of ?? input.step ?? (int ? 1 : 0.01);
  const decimals = int ? 0 : Math.max(0, -Math.floor(Math.log10(step) + 1e-9));
  return {
    kind: int ? "int" : "float",
    default: input.default ?? Math.max(0, input.min ?? 0),
    min: input.min, max: input.max, step, precision: Math.min(decimals, 6),
    control: !!input.control_after_generate,
  };
}

/** An input that names an image in the user's input folder: a combo with upload and preview.
 * The schema marks it with "upload": "image" (ComfyUI's object_info says "image_upload"). */
export function isImageInput(input) {
  return input.upload === "image" || input.image_upload === true;
}

/** The value a control widget gives a seed after a run. */
export function nextValue(mode, value, { min = 0, max = Number.MAX_SAFE_INTEGER } = {}) {
  const top = Math.min(max, Number.MAX_SAFE_INTEGER);
  if (mode === "increment") return value + 1 > top ? min : value + 1;
  if (mode === "decrement") return value - 1 < min ? top : value - 1;
  if (mode === "randomize") {
    const span = Math.min(top - min, 2 ** 50);
    return min + Math.floor(Math.random() * (span + 1));
  }
  return value;
}
