// An editor extension shipped by a node pack: nodeflow imports every .js file in the pack's
// web/ folder and calls its setup() with the extension API. This one draws, under every
// Color Adjust node, a swatch showing what its settings do to a mid grey and a mid red.

function adjust([r, g, b], { brightness = 1, contrast = 1, saturation = 1 }) {
  const mean = 0.5;
  let rgb = [r, g, b].map((v) => (v * brightness - mean) * contrast + mean);
  const grey = 0.299 * rgb[0] + 0.587 * rgb[1] + 0.114 * rgb[2];
  rgb = rgb.map((v) => grey + (v - grey) * saturation);
  return rgb.map((v) => Math.round(Math.min(1, Math.max(0, v)) * 255));
}

export function setup(nodeflow) {
  nodeflow.onDrawNode((ctx, node) => {
    if (node.type !== "ColorAdjust") return;
    const swatches = [[0.5, 0.5, 0.5], [0.8, 0.3, 0.3], [0.3, 0.5, 0.8]];
    const size = 14;
    swatches.forEach((color, i) => {
      const [r, g, b] = adjust(color, node.values);
      ctx.fillStyle = `rgb(${r}, ${g}, ${b})`;
      ctx.fillRect(node.size[0] - (swatches.length - i) * (size + 4), node.size[1] + 6, size, size);
    });
    globalThis.nodeflowColorPreviewDrawn = (globalThis.nodeflowColorPreviewDrawn ?? 0) + 1;
  });
}
