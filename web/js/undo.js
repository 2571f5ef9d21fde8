// Undo and redo by snapshots: after anything that may have changed the graph, the current
// workflow text is compared with the last one and kept when it differs. Every kind of edit
// (add, delete, move, resize, link, value, group, title, paste) is covered the same way.

export class UndoStack {
  constructor({ snapshot, restore, limit = 100 }) {
    this.snapshot = snapshot; // () => text of the current graph
    this.restore = restore; // (text) => put that graph back
    this.limit = limit;
    this.reset();
  }

  reset() {
    this.past = [];
    this.future = [];
    this.current = this.snapshot();
  }

  /** Record the graph as it is now, if it changed. Returns whether it did. */
  checkpoint() {
    const now = this.snapshot();
    if (now === this.current) return false;
    this.past.push(this.current);
    if (this.past.length > this.limit) this.past.shift();
    this.future = [];
    this.current = now;
    return true;
  }

  undo() {
    this.checkpoint();
    if (!this.past.length) return false;
    this.future.push(this.current);
    this.#show(this.past.pop());
    return true;
  }

  redo() {
    this.checkpoint();
    if (!this.future.length) return false;
    this.past.push(this.current);
    this.#show(this.future.pop());
    return true;
  }

  // The graph put back may read back a little differently from the text it came from (a link
  // the canvas re-creates, a size it enforces): that reading is the new baseline, or the next
  // checkpoint would take it for an edit and drop the redo steps.
  #show(text) {
    this.restore(text);
    this.current = this.snapshot();
  }
}
