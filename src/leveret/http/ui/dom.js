// Small DOM and formatting helpers shared by every screen.

// h("a", { href: "#/", class: "x", onclick: fn }, "text", child, [more]) builds an element.
export function h(tag, props, ...children) {
  const element = document.createElement(tag);
  for (const [key, value] of Object.entries(props || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (key.startsWith("on")) element.addEventListener(key.slice(2), value);
    else if (key === "class") element.className = value;
    // true is an attribute, so that form.reset() comes back to it (checked, selected).
    else if (value === true) element.setAttribute(key, "");
    else if (key in element && typeof value !== "string") element[key] = value;
    else element.setAttribute(key, value);
  }
  append(element, children);
  return element;
}

// Appends children, skipping null, undefined and false (Element.append would write "null").
export function add(element, ...children) {
  append(element, children);
  return element;
}

function append(element, children) {
  for (const child of children) {
    if (child === undefined || child === null || child === false) continue;
    if (Array.isArray(child)) append(element, child);
    else element.append(child instanceof Node ? child : String(child));
  }
}

export function replace(element, ...children) {
  element.replaceChildren();
  append(element, children);
  return element;
}

// A hash link to a screen; each name is one encoded segment.
export function href(...segments) {
  return "#/" + segments.map((s) => encodeURIComponent(s)).join("/");
}

export function link(text, ...segments) {
  return h("a", { href: href(...segments) }, text);
}

export function section(title, ...children) {
  const id = "s-" + title.toLowerCase().replace(/[^a-z0-9]+/g, "-");
  return h("section", { class: "panel", "aria-labelledby": id }, h("h2", { id }, title), children);
}

// A definition list from [label, value] pairs (values may be nodes); empty values skipped.
export function facts(pairs) {
  return h(
    "dl",
    { class: "facts" },
    pairs
      .filter(([, value]) => value !== undefined && value !== null && value !== "")
      .map(([label, value]) => h("div", {}, h("dt", {}, label), h("dd", {}, value))),
  );
}

const numbers = new Intl.NumberFormat();

export function count(n) {
  return n === undefined || n === null ? "–" : numbers.format(n);
}

export function rate(r) {
  if (r === undefined || r === null) return "–";
  const shown = r >= 100 ? Math.round(r) : Math.round(r * 10) / 10;
  return `${numbers.format(shown)}/s`;
}

export function bytes(n) {
  if (n === undefined || n === null) return "–";
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let value = n;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit += 1;
  }
  return `${unit ? value.toFixed(1) : value} ${units[unit]}`;
}

export function duration(ms) {
  const s = Math.floor(ms / 1000);
  const [d, hr, m] = [Math.floor(s / 86400), Math.floor(s / 3600) % 24, Math.floor(s / 60) % 60];
  if (d) return `${d}d ${hr}h`;
  if (hr) return `${hr}h ${m}m`;
  if (m) return `${m}m ${s % 60}s`;
  return `${s}s`;
}

export function when(epochMs) {
  return epochMs ? new Date(epochMs).toLocaleString() : "–";
}

// The rate of one message_stats counter ("publish" -> message_stats.publish_details.rate).
export function statRate(item, key) {
  return item.message_stats?.[`${key}_details`]?.rate;
}

export function json(value) {
  return value && Object.keys(value).length ? JSON.stringify(value) : "";
}

// Messages that outlive the screen that raised them (role=status, read out politely).
export function toast(message, kind = "ok") {
  const region = document.getElementById("toast");
  const item = h("p", { class: `toast ${kind}` }, message);
  region.append(item);
  setTimeout(() => item.remove(), kind === "error" ? 10000 : 5000);
}

// Rebuild `element`'s content only when `data` changed since the last call, so that a
// refresh does not take keyboard focus or a text selection away for nothing.
const shown = new WeakMap();
export function refill(element, data, build) {
  const signature = JSON.stringify(data);
  if (shown.get(element) === signature) return;
  shown.set(element, signature);
  element.replaceChildren();
  add(element, build(data));
}
