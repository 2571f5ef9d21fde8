// Tooltips on the canvas: rest the pointer on a node, an input or an output for a moment and
// its description (the node's docstring, the input's tooltip and type) shows beside it.

const DELAY_MS = 500;

export function showTooltips(canvas, describe) {
  const tip = document.createElement("div");
  tip.className = "canvas-tooltip";
  tip.setAttribute("role", "tooltip");
  tip.hidden = true;
  document.body.append(tip);
  let timer = null;
  const hide = () => {
    clearTimeout(timer);
    tip.hidden = true;
  };
  canvas.addEventListener("pointermove", (event) => {
    hide();
    if (event.buttons) return;
    timer = setTimeout(() => {
      const text = describe(event.clientX, event.clientY);
      if (!text) return;
      tip.textContent = text;
      tip.hidden = false;
      tip.style.left = `${Math.min(event.clientX + 14, innerWidth - tip.offsetWidth - 8)}px`;
      tip.style.top = `${Math.min(event.clientY + 18, innerHeight - tip.offsetHeight - 8)}px`;
    }, DELAY_MS);
  });
  canvas.addEventListener("pointerleave", hide);
  canvas.addEventListener("pointerdown", hide);
  canvas.addEventListener("wheel", hide, { passive: true });
}
