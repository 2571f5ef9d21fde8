// The image viewer: one result at a time over the page, fitted to the window, with zoom, pan,
// stepping through the gallery, and an A/B compare of two results behind a split you drag.
// Both images of a compare share one transform, so the split shows the same pixels of each.
import { el } from "./dom.js";

const ZOOM_STEP = 1.25;

export class ImageViewer {
  constructor() {
    this.items = [];  // [{url, filename, label}]
    this.index = 0;   // A
    this.other = null; // B, while comparing
    this.view = { scale: 1, x: 0, y: 0 };
    this.split = 0.5; // where A ends, as a fraction of the stage width
    this.#build();
    // capture: while the viewer is open no key reaches the canvas (Delete must not delete nodes)
    window.addEventListener("keydown", (event) => this.#key(event), true);
  }

  get isOpen() {
    return !this.root.hidden;
  }

  /** Show `items[index]`; `items` is the gallery the arrows step through. */
  open(items, index = 0) {
    this.items = items;
    this.other = null;
    this.returnFocus = document.activeElement;
    this.root.hidden = false;
    this.#show(index);
    this.closeButton.focus();
  }

  close() {
    this.root.hidden = true;
    this.picker.hidden = true;
    this.a.removeAttribute("src");
    this.b.removeAttribute("src");
    this.returnFocus?.focus?.();
  }

  #build() {
    const button = (label, text, onclick, extra = {}) =>
      el("button", { type: "button", "aria-label": label, title: label, onclick, ...extra }, text);
    this.title = el("span", { class: "viewer-title" });
    this.zoomText = el("span", { class: "viewer-zoom", "aria-label": "Zoom level" });
    this.rawLink = el("a", { class: "viewer-raw", target: "_blank", rel: "noopener" }, "Open file");
    this.downloadLink = el("a", { class: "viewer-raw", download: "" }, "Download");
    this.compareButton = button("Compare with…", "Compare with…", () => this.#togglePicker());
    this.swapButton = button("Swap A and B", "Swap A/B", () => this.#swap(), { hidden: "" });
    this.endCompareButton = button("End compare", "End compare", () => this.#endCompare(),
                                   { hidden: "" });
    this.closeButton = button("Close viewer", "✕", () => this.close());
    const bar = el("div", { class: "viewer-bar" },
      this.title,
      button("Previous image", "‹", () => this.#step(-1)),
      button("Next image", "›", () => this.#step(1)),
      el("span", { class: "sep" }),
      button("Zoom out", "−", () => this.#zoomBy(1 / ZOOM_STEP)),
      this.zoomText,
      button("Zoom in", "+", () => this.#zoomBy(ZOOM_STEP)),
      button("Fit to window", "Fit", () => this.fit()),
      button("Actual size", "1:1", () => this.#actualSize()),
      el("span", { class: "sep" }),
      this.compareButton, this.swapButton, this.endCompareButton,
      el("span", { class: "sep" }),
      this.rawLink, this.downloadLink, this.closeButton);
    this.picker = el("div", { class: "viewer-picker", role: "group",
                              "aria-label": "Choose the image to compare with", hidden: "" });
    this.a = el("img", { class: "viewer-a", alt: "", draggable: "false" });
    this.b = el("img", { class: "viewer-b", alt: "", draggable: "false" });
    this.layer = el("div", { class: "viewer-layer" }, this.a, this.b);
    this.handle = el("div", { class: "viewer-split", role: "slider", tabindex: "0",
                              "aria-label": "Compare split", "aria-valuemin": "0",
                              "aria-valuemax": "100", hidden: "" });
    this.tagA = el("span", { class: "viewer-tag a", hidden: "" });
    this.tagB = el("span", { class: "viewer-tag b", hidden: "" });
    this.stage = el("div", { class: "viewer-stage" }, this.layer, this.handle, this.tagA, this.tagB);
    this.root = el("div", { id: "viewer", class: "viewer", role: "dialog", "aria-modal": "true",
                            "aria-label": "Image viewer", hidden: "" }, bar, this.picker, this.stage);
    document.body.append(this.root);

    this.a.addEventListener("load", () => {
      if (!this.keepView) return this.fit();
      this.keepView = false; // a swap: the same part of both images stays in view
      this.#render();
    });
    this.b.addEventListener("load", () => this.#render());
    this.stage.addEventListener("wheel", (event) => {
      event.preventDefault();
      const box = this.stage.getBoundingClientRect();
      this.#zoomBy(event.deltaY < 0 ? ZOOM_STEP : 1 / ZOOM_STEP,
                   event.clientX - box.left, event.clientY - box.top);
    }, { passive: false });
    this.stage.addEventListener("pointerdown", (event) => this.#drag(event));
    new ResizeObserver(() => { if (this.isOpen) this.#render(); }).observe(this.stage);
  }

  #show(index) {
    const count = this.items.length;
    this.index = ((index % count) + count) % count;
    if (this.other === this.index) this.other = null;
    const item = this.items[this.index];
    this.rawLink.href = item.url;
    this.downloadLink.href = item.url;
    this.downloadLink.download = item.filename;
    this.a.alt = item.filename;
    if (this.a.getAttribute("src") !== item.url) this.a.src = item.url;
    else this.fit();
    this.#showCompare();
  }

  #step(delta) {
    if (this.items.length > 1) this.#show(this.index + delta);
  }

  // -- zoom and pan ----------------------------------------------------------------------------

  /** The whole image in the stage, as large as it fits (small results are scaled up). */
  fit() {
    const { width, height } = this.stage.getBoundingClientRect();
    const w = this.a.naturalWidth || 1;
    const h = this.a.naturalHeight || 1;
    const scale = Math.min(width / w, height / h);
    this.view = { scale, x: (width - w * scale) / 2, y: (height - h * scale) / 2 };
    this.#render();
  }

  #actualSize() {
    const { width, height } = this.stage.getBoundingClientRect();
    this.view = { scale: 1, x: (width - this.a.naturalWidth) / 2,
                  y: (height - this.a.naturalHeight) / 2 };
    this.#render();
  }

  /** Zoom by `factor` keeping the stage point (cx, cy) still (the middle by default). */
  #zoomBy(factor, cx, cy) {
    const box = this.stage.getBoundingClientRect();
    cx ??= box.width / 2;
    cy ??= box.height / 2;
    const scale = Math.min(256, Math.max(0.05, this.view.scale * factor));
    const f = scale / this.view.scale;
    this.view = { scale, x: cx - (cx - this.view.x) * f, y: cy - (cy - this.view.y) * f };
    this.#render();
  }

  #drag(event) {
    if (event.button !== 0) return;
    event.preventDefault();
    const onSplit = event.target === this.handle;
    if (onSplit) this.handle.focus(); // then the arrow keys move it (no default focus: prevented)
    const box = this.stage.getBoundingClientRect();
    const start = { x: event.clientX, y: event.clientY, view: { ...this.view } };
    const move = (e) => {
      if (onSplit) {
        this.split = Math.min(1, Math.max(0, (e.clientX - box.left) / box.width));
      } else {
        this.view = { ...start.view, x: start.view.x + e.clientX - start.x,
                      y: start.view.y + e.clientY - start.y };
      }
      this.#render();
    };
    const up = () => {
      window.removeEventListener("pointermove", move);
      window.removeEventListener("pointerup", up);
      this.stage.classList.remove("dragging");
    };
    this.stage.classList.add("dragging");
    window.addEventListener("pointermove", move);
    window.addEventListener("pointerup", up);
  }

  #render() {
    const { scale, x, y } = this.view;
    const w = this.a.naturalWidth;
    const h = this.a.naturalHeight;
    this.layer.style.transform = `translate(${x}px, ${y}px) scale(${scale})`;
    // pixels stay crisp squares when zoomed in (32x32 results); smooth when scaled down
    this.layer.classList.toggle("pixelated", scale >= 1);
    this.zoomText.textContent = `${Math.round(scale * 100)}%`;
    // B is drawn at A's size, so two results of different sizes still line up
    this.b.style.width = `${w}px`;
    this.b.style.height = `${h}px`;
    const width = this.stage.getBoundingClientRect().width;
    const cut = Math.min(w, Math.max(0, (this.split * width - x) / scale));
    this.b.style.clipPath = `inset(0 0 0 ${cut}px)`;
    this.handle.style.left = `${this.split * 100}%`;
    this.handle.setAttribute("aria-valuenow", String(Math.round(this.split * 100)));
  }

  // -- compare ---------------------------------------------------------------------------------

  #togglePicker() {
    if (!this.picker.hidden) {
      this.picker.hidden = true;
      return;
    }
    this.picker.replaceChildren(...this.items.map((item, i) => i === this.index ? null :
      el("button", { type: "button", class: "viewer-pick",
                     "aria-label": `Compare with ${item.label} ${item.filename}`,
                     title: `${item.label} ${item.filename}`, onclick: () => this.#compareWith(i) },
         el("img", { src: item.url, alt: "" }), el("span", {}, item.label))).filter(Boolean));
    if (!this.picker.children.length) {
      this.picker.append(el("span", { class: "empty" }, "No other result to compare with."));
    }
    this.picker.hidden = false;
  }

  #compareWith(i) {
    this.other = i;
    this.split = 0.5;
    this.picker.hidden = true;
    this.#showCompare();
    this.handle.focus();
  }

  #swap() {
    if (this.other == null) return;
    const a = this.index;
    this.index = this.other;
    this.other = a;
    this.keepView = true;
    this.#show(this.index);
  }

  #endCompare() {
    this.other = null;
    this.#showCompare();
  }

  #showCompare() {
    const comparing = this.other != null;
    for (const node of [this.b, this.handle, this.tagA, this.tagB, this.swapButton,
                        this.endCompareButton]) node.hidden = !comparing;
    const a = this.items[this.index];
    this.title.textContent = `${a.label} ${a.filename} (${this.index + 1}/${this.items.length})`;
    if (comparing) {
      const b = this.items[this.other];
      if (this.b.getAttribute("src") !== b.url) this.b.src = b.url;
      this.tagA.textContent = `A: ${a.label} ${a.filename}`;
      this.tagB.textContent = `B: ${b.label} ${b.filename}`;
    }
    this.root.classList.toggle("comparing", comparing);
    this.#render();
  }

  // -- keys ------------------------------------------------------------------------------------

  #key(event) {
    if (!this.isOpen) return;
    event.stopPropagation();
    if (event.key === "Tab") {
      this.#keepFocus(event);
      return;
    }
    const onSplit = document.activeElement === this.handle;
    const keys = {
      Escape: () => (this.picker.hidden ? this.close() : (this.picker.hidden = true)),
      ArrowLeft: () => (onSplit ? this.#nudgeSplit(-0.05) : this.#step(-1)),
      ArrowRight: () => (onSplit ? this.#nudgeSplit(0.05) : this.#step(1)),
      "+": () => this.#zoomBy(ZOOM_STEP),
      "=": () => this.#zoomBy(ZOOM_STEP),
      "-": () => this.#zoomBy(1 / ZOOM_STEP),
      0: () => this.fit(),
      1: () => this.#actualSize(),
    };
    const action = keys[event.key];
    if (action && !event.ctrlKey && !event.metaKey && !event.altKey) {
      event.preventDefault();
      action();
    }
  }

  // A modal dialog: Tab cycles through its own controls, never the page behind it.
  #keepFocus(event) {
    const items = [...this.root.querySelectorAll("button, a[href], [tabindex='0']")]
      .filter((item) => item.getClientRects().length);
    const at = items.indexOf(document.activeElement);
    const next = at < 0 ? 0 : (at + (event.shiftKey ? -1 : 1) + items.length) % items.length;
    event.preventDefault();
    items[next]?.focus();
  }

  #nudgeSplit(delta) {
    this.split = Math.min(1, Math.max(0, this.split + delta));
    this.#render();
  }
}
