// A small modal dialog in the page (not window.confirm/prompt, which block the page and
// cannot be styled): a question with buttons, optionally a text field.

/** Resolves to the text typed (with `value`), true (without), or null when cancelled. */
export function ask({ title, message = "", value = null, ok = "OK", cancel = "Cancel" }) {
  return new Promise((resolve) => {
    const veil = document.createElement("div");
    veil.className = "dialog-veil";
    const box = document.createElement("form");
    box.className = "dialog";
    box.setAttribute("role", "dialog");
    box.setAttribute("aria-modal", "true");
    box.setAttribute("aria-label", title);
    const heading = document.createElement("h2");
    heading.textContent = title;
    const text = document.createElement("p");
    text.textContent = message;
    const field = document.createElement("input");
    field.setAttribute("aria-label", title);
    field.spellcheck = false;
    const yes = document.createElement("button");
    yes.type = "submit";
    yes.className = "primary";
    yes.textContent = ok;
    const no = document.createElement("button");
    no.type = "button";
    no.textContent = cancel;
    const buttons = document.createElement("div");
    buttons.className = "buttons";
    buttons.append(no, yes);
    box.append(heading, ...(message ? [text] : []), ...(value !== null ? [field] : []), buttons);
    veil.append(box);
    document.body.append(veil);
    const done = (answer) => {
      veil.remove();
      resolve(answer);
    };
    box.addEventListener("submit", (event) => {
      event.preventDefault();
      if (value !== null && !field.value.trim()) return;
      done(value !== null ? field.value.trim() : true);
    });
    no.addEventListener("click", () => done(null));
    box.addEventListener("keydown", (event) => {
      event.stopPropagation(); // not canvas shortcuts
      if (event.key === "Escape") done(null);
    });
    if (value !== null) {
      field.value = value;
      field.focus();
      field.select();
    } else {
      yes.focus();
    }
  });
}
