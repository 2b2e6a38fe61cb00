// Permissions, topic permissions and limits: panels shared by the user and virtual host
// pages (one side fixed, the other chosen).
import { apiPath, del, get, put } from "./api.js";
import { h, link, refill, toast } from "./dom.js";
import { field, form, input, select } from "./forms.js";

// An empty heading is the buttons' column: named for screen readers only.
function table(label, head, rows) {
  return h(
    "div",
    { class: "table-scroll" },
    h(
      "table",
      { "aria-label": label },
      h(
        "thead",
        {},
        h(
          "tr",
          {},
          head.map((text) =>
            h("th", { scope: "col" }, text || h("span", { class: "sr-only" }, "Actions")),
          ),
        ),
      ),
      h(
        "tbody",
        {},
        rows.length
          ? rows
          : h("tr", {}, h("td", { colspan: head.length, class: "empty" }, "None.")),
      ),
    ),
  );
}

function clearButton(label, path, changed) {
  return h(
    "button",
    {
      type: "button",
      "aria-label": label,
      onclick: async () => {
        try {
          await del(path);
          toast(`${label}: done.`);
          changed();
        } catch (failure) {
          toast(failure.message, "error");
        }
      },
    },
    "Clear",
  );
}

// fixed: { user } or { vhost }; others: the names to choose the other side from.
function sides(fixed, values) {
  return [fixed.vhost ?? values.other, fixed.user ?? values.other];
}

function otherCell(p, fixed) {
  return fixed.user
    ? link(p.vhost, "admin", "vhosts", p.vhost)
    : link(p.user, "admin", "users", p.user);
}

export function permissionsPanel({ fixed, list, others }) {
  const shown = h("div");
  const otherLabel = fixed.user ? "Virtual host" : "User";
  async function refresh() {
    const rows = await get(list);
    refill(shown, rows, () =>
      table(
        "Permissions",
        [otherLabel, "Configure", "Write", "Read", ""],
        rows.map((p) =>
          h(
            "tr",
            {},
            h("td", {}, otherCell(p, fixed)),
            h("td", {}, h("code", {}, p.configure)),
            h("td", {}, h("code", {}, p.write)),
            h("td", {}, h("code", {}, p.read)),
            h(
              "td",
              {},
              clearButton(
                `Clear permissions of ${p.user} in ${p.vhost}`,
                `permissions/${apiPath(p.vhost)}/${apiPath(p.user)}`,
                refresh,
              ),
            ),
          ),
        ),
      ),
    );
  }
  const setter = form(
    {
      label: "Set permissions",
      submit: "Set permissions",
      action: async (values) => {
        const [vhost, user] = sides(fixed, values);
        await put(`permissions/${apiPath(vhost)}/${apiPath(user)}`, {
          configure: values.configure,
          write: values.write,
          read: values.read,
        });
        toast(`Permissions of ${user} in ${vhost} set.`);
        refresh();
      },
    },
    field(otherLabel, select("other", others, others[0])),
    field(
      "Configure",
      input("configure", { value: ".*" }),
      "a regular expression over resource names",
    ),
    field("Write", input("write", { value: ".*" })),
    field("Read", input("read", { value: ".*" })),
  );
  return { element: h("div", {}, shown, setter), refresh };
}

export function topicPermissionsPanel({ fixed, list, others }) {
  const shown = h("div");
  const otherLabel = fixed.user ? "Virtual host" : "User";
  async function refresh() {
    const rows = await get(list);
    refill(shown, rows, () =>
      table(
        "Topic permissions",
        [otherLabel, "Exchange", "Write", "Read", ""],
        rows.map((p) =>
          h(
            "tr",
            {},
            h("td", {}, otherCell(p, fixed)),
            h("td", {}, p.exchange),
            h("td", {}, h("code", {}, p.write)),
            h("td", {}, h("code", {}, p.read)),
            h(
              "td",
              {},
              clearButton(
                `Clear topic permissions of ${p.user} in ${p.vhost}`,
                `topic-permissions/${apiPath(p.vhost)}/${apiPath(p.user)}`,
                refresh,
              ),
            ),
          ),
        ),
      ),
    );
  }
  const setter = form(
    {
      label: "Set topic permissions",
      submit: "Set topic permissions",
      action: async (values) => {
        const [vhost, user] = sides(fixed, values);
        await put(`topic-permissions/${apiPath(vhost)}/${apiPath(user)}`, {
          exchange: values.exchange,
          write: values.write,
          read: values.read,
        });
        toast(`Topic permissions of ${user} in ${vhost} set.`);
        refresh();
      },
    },
    field(otherLabel, select("other", others, others[0])),
    field("Topic exchange", input("exchange", { value: "amq.topic", required: true })),
    field("Write", input("write", { value: ".*" }), "a regular expression over routing keys"),
    field("Read", input("read", { value: ".*" })),
  );
  return { element: h("div", {}, shown, setter), refresh };
}

// kind: "vhost" or "user"; limits: the names that kind takes.
export function limitsPanel({ kind, name, limits }) {
  const base = `${kind}-limits/${apiPath(name)}`;
  const shown = h("div");
  async function refresh() {
    const rows = await get(base);
    const values = rows[0]?.value || {};
    refill(shown, values, () =>
      table(
        "Limits",
        ["Limit", "Value", ""],
        Object.entries(values).map(([limit, value]) =>
          h(
            "tr",
            {},
            h("td", {}, limit),
            h("td", { class: "num" }, value),
            h(
              "td",
              {},
              clearButton(`Clear ${limit} of ${name}`, `${base}/${apiPath(limit)}`, refresh),
            ),
          ),
        ),
      ),
    );
  }
  const setter = form(
    {
      label: "Set a limit",
      submit: "Set limit",
      action: async (values) => {
        const value = Number(values.value);
        if (!Number.isInteger(value))
          throw new Error("The limit must be a whole number (negative: no limit).");
        await put(`${base}/${apiPath(values.limit)}`, { value });
        toast(`${values.limit} of ${name} set to ${value}.`);
        refresh();
      },
    },
    field("Limit", select("limit", limits, limits[0])),
    field("Value", input("value", { type: "number", required: true })),
  );
  return { element: h("div", {}, shown, setter), refresh };
}
