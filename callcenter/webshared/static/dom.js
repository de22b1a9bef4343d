// Small DOM helpers the pages share (reports, campaigns). Text goes in as text (textContent), never as HTML.

export const $ = (id) => document.getElementById(id);

export function el(tag, attrs = {}, text) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === "class") e.className = v;
    else if (k.includes("-")) e.setAttribute(k, v);  // data-*, aria-*: attributes, not properties
    else e[k] = v;
  }
  if (text != null) e.textContent = String(text);
  return e;
}

export function option(value, label, selected = false) {
  const o = el("option", { value }, label);
  o.selected = selected;
  return o;
}
