// The minimap: every node as a small box and the visible part of the graph as a frame, in a
// corner of the canvas; a click or a drag on it moves the view there. Redrawn with the canvas.

const PAD = 8;
const NODE_COLOR = "#8a8c94";
const SELECTED_COLOR = "#f0c040";
const VIEW_COLOR = "#3d8bfd";

export class Minimap {
  constructor(canvas, editor) {
    this.canvas = canvas; // a <canvas> laid over a corner of the graph canvas
    this.editor = editor;
    this.map = null; // graph units -> minimap pixels: {x, y, scale}
    editor.onFrame(() => this.draw());
    canvas.addEventListener("pointerdown", (event) => this.#press(event));
  }

  set visible(on) {
    this.canvas.hidden = !on;
    if (on) this.draw();
  }

  draw() {
    if (this.canvas.hidden) return;
    const ratio = window.devicePixelRatio || 1;
    const { width, height } = this.canvas.getBoundingClientRect();
    const [pw, ph] = [Math.round(width * ratio), Math.round(height * ratio)];
    if (this.canvas.width !== pw) this.canvas.width = pw; // setting it clears, even to the same
    if (this.canvas.height !== ph) this.canvas.height = ph;
    const ctx = this.canvas.getContext("2d");
    ctx.setTransform(ratio, 0, 0, ratio, 0, 0);
    ctx.clearRect(0, 0, width, height);
    const nodes = this.editor.nodeRects();
    const view = this.editor.visibleArea();
    // the map shows the nodes and the view together, so the frame never leaves the map
    const boxes = [...nodes, view];
    const left = Math.min(...boxes.map((b) => b[0]));
    const top = Math.min(...boxes.map((b) => b[1]));
    const right = Math.max(...boxes.map((b) => b[0] + b[2]));
    const bottom = Math.max(...boxes.map((b) => b[1] + b[3]));
    const scale = Math.min((width - 2 * PAD) / (right - left), (height - 2 * PAD) / (bottom - top));
    this.map = { x: PAD - left * scale + ((width - 2 * PAD) - (right - left) * scale) / 2,
                 y: PAD - top * scale + ((height - 2 * PAD) - (bottom - top) * scale) / 2, scale };
    const { x, y } = this.map;
    for (const [nx, ny, nw, nh, selected] of nodes) {
      ctx.fillStyle = selected ? SELECTED_COLOR : NODE_COLOR;
      ctx.fillRect(x + nx * scale, y + ny * scale, Math.max(1, nw * scale), Math.max(1, nh * scale));
    }
    ctx.strokeStyle = VIEW_COLOR;
    ctx.lineWidth = 1.5;
    ctx.strokeRect(x + view[0] * scale, y + view[1] * scale, view[2] * scale, view[3] * scale);
  }

  #press(event) {
    if (event.button !== 0 || !this.map) return;
    event.preventDefault();
    // the map is frozen while dragging: it would rescale under the pointer as the view moves
    const map = { ...this.map };
    const box = this.canvas.getBoundingClientRect();
    const go = (e) => this.editor.centerOn((e.clientX - box.left - map.x) / map.scale,
                                           (e.clientY - box.top - map.y) / map.scale);
    go(event);
    const up = () => {
      window.removeEventListener("pointermove", go);
      window.removeEventListener("pointerup", up);
    };
    window.addEventListener("pointermove", go);
    window.addEventListener("pointerup", up);
  }
}
