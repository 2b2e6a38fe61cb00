// Form building blocks: labelled fields, a submit handler that shows the API's reason
// next to the button, and an editor for AMQP argument tables.
import { h, toast } from "./dom.js";

// A control with its visible label (the label wraps it, so no id is needed).
export function field(label, control, hint) {
  return h(
    "label",
    { class: "field" },
    h("span", {}, label),
    control,
    hint && h("small", {}, hint),
  );
}

export function input(name, props = {}) {
  return h("input", { name, type: "text", autocomplete: "off", ...props });
}

export function select(name, options, value) {
  return h(
    "select",
    { name },
    options.map((option) => {
      const [val, text] = Array.isArray(option) ? option : [option, option];
      return h("option", { value: val, selected: val === value }, text);
    }),
  );
}

export function checkbox(label, name, checked = false) {
  return h("label", { class: "check" }, h("input", { type: "checkbox", name, checked }), label);
}

// Everything the form holds: checkboxes as booleans, other controls as text.
function values(form) {
  const data = {};
  for (const element of form.elements) {
    if (!element.name) continue;
    data[element.name] = element.type === "checkbox" ? element.checked : element.value;
  }
  return data;
}

// <form> whose submit runs `action(values, form)`; a failure shows its reason in the form.
export function form({ label, submit, action, danger, className }, ...children) {
  const error = h("p", { class: "form-error", role: "alert" });
  const button = h("button", { type: "submit", class: danger ? "danger" : "primary" }, submit);
  const element = h(
    "form",
    { class: className || "stack", "aria-label": label },
    children,
    h("div", { class: "actions" }, button),
    error,
  );
  element.addEventListener("submit", async (event) => {
    event.preventDefault();
    error.textContent = "";
    button.disabled = true;
    try {
      await action(values(element), element);
    } catch (failure) {
      error.textContent = failure.message;
    } finally {
      button.disabled = false;
    }
  });
  return element;
}

// A button that asks first (window.confirm is keyboard- and screen-reader-friendly).
export function actionButton(text, question, action, { danger = true } = {}) {
  return h(
    "button",
    {
      type: "button",
      class: danger ? "danger" : "",
      onclick: async (event) => {
        if (question && !window.confirm(question)) return;
        const button = event.currentTarget;
        button.disabled = true;
        try {
          await action();
        } catch (failure) {
          toast(failure.message, "error");
        } finally {
          button.disabled = false;
        }
      },
    },
    text,
  );
}

const TYPES = [
  ["string", "String"],
  ["number", "Number"],
  ["boolean", "Boolean"],
  ["json", "List/JSON"],
];

function typedValue(type, raw, key) {
  if (type === "number") {
    const number = Number(raw);
    if (raw.trim() === "" || Number.isNaN(number)) throw new Error(`${key}: not a number`);
    return number;
  }
  if (type === "boolean") return raw.trim().toLowerCase() === "true";
  if (type === "json") {
    try {
      return JSON.parse(raw);
    } catch {
      throw new Error(`${key}: not valid JSON`);
    }
  }
  return raw;
}

// Rows of key, value and type; `suggestions` are [key, type] pairs offered as shortcuts.
// The controls have no name, so the surrounding form's values() skips them.
export function argumentsEditor(legend, suggestions = []) {
  const rows = h("div", { class: "arg-rows" });
  const addRow = (key = "", type = "string") => {
    const row = h(
      "div",
      { class: "arg-row" },
      h("input", { "aria-label": `${legend} key`, value: key, class: "arg-key" }),
      h("input", { "aria-label": `${legend} value`, class: "arg-value" }),
      h(
        "select",
        { "aria-label": `${legend} type`, class: "arg-type" },
        TYPES.map(([v, t]) => h("option", { value: v, selected: v === type }, t)),
      ),
      h("button", { type: "button", "aria-label": "Remove row", onclick: () => row.remove() }, "×"),
    );
    rows.append(row);
    return row;
  };
  addRow();
  const shortcuts = suggestions.map(([key, type]) =>
    h(
      "button",
      {
        type: "button",
        class: "chip",
        onclick: () => addRow(key, type).querySelector(".arg-value").focus(),
      },
      key,
    ),
  );
  const element = h(
    "fieldset",
    { class: "args" },
    h("legend", {}, legend),
    rows,
    h(
      "div",
      { class: "arg-tools" },
      h(
        "button",
        { type: "button", onclick: () => addRow().querySelector(".arg-key").focus() },
        "Add row",
      ),
      shortcuts,
    ),
  );
  element.value = () => {
    const table = {};
    for (const row of rows.children) {
      const key = row.querySelector(".arg-key").value.trim();
      if (!key) continue;
      const type = row.querySelector(".arg-type").value;
      table[key] = typedValue(type, row.querySelector(".arg-value").value, key);
    }
    return table;
  };
  element.reset = () => {
    rows.replaceChildren();
    addRow();
  };
  return element;
}
