// Users: the list, adding one, and a user's page (tags, password, permissions, topic
// permissions, limits, deletion).
import { apiPath, del, get, put, vhostNames } from "./api.js";
import { limitsPanel, permissionsPanel, topicPermissionsPanel } from "./access.js";
import { adminNav } from "./admin.js";
import { facts, h, href, link, section, toast } from "./dom.js";
import { field, form, input } from "./forms.js";
import { pagedTable } from "./table.js";

const TAGS = ["administrator", "monitoring", "policymaker", "management", "impersonator"];

// A tags field with one-click chips for RabbitMQ's tags.
function tagsField(value = "") {
  const tags = input("tags", { value, placeholder: "comma-separated, e.g. management" });
  const chips = TAGS.map((tag) =>
    h(
      "button",
      {
        type: "button",
        class: "chip",
        onclick: () => {
          const current = tags.value
            .split(",")
            .map((t) => t.trim())
            .filter(Boolean);
          if (!current.includes(tag)) tags.value = [...current, tag].join(", ");
          tags.focus();
        },
      },
      tag,
    ),
  );
  return h(
    "div",
    {},
    field("Tags", tags),
    h("div", { class: "chips", role: "group", "aria-label": "Add a tag" }, chips),
  );
}

export async function list(ctx) {
  ctx.heading("Users", adminNav("Users"));
  const table = pagedTable({
    id: "users",
    label: "Users",
    path: () => "users",
    columns: [
      { label: "Name", sort: "name", value: (u) => link(u.name, "admin", "users", u.name) },
      { label: "Tags", value: (u) => u.tags.join(", ") },
      {
        label: "Password",
        value: (u) => (u.password_hash ? "set" : "none: cannot log in with one"),
      },
      {
        label: "Limits",
        value: (u) =>
          Object.entries(u.limits || {})
            .map(([k, v]) => `${k}: ${v}`)
            .join(", "),
      },
    ],
  });
  const adder = form(
    {
      label: "Add a user",
      submit: "Add user",
      action: async (values, element) => {
        const body = { tags: values.tags };
        if (values.password) body.password = values.password;
        else body.password_hash = "";
        await put(`users/${apiPath(values.name)}`, body);
        toast(`User ${values.name} added.`);
        element.reset();
        table.reload();
      },
    },
    field("Username", input("name", { required: true })),
    field(
      "Password",
      input("password", { type: "password", autocomplete: "new-password" }),
      "leave empty for a user without a password",
    ),
    tagsField(),
  );
  ctx.main.append(table.element, section("Add a user", adder));
}

export async function page(ctx, name) {
  ctx.heading(`User ${name}`, adminNav("Users"));
  const path = `users/${apiPath(name)}`;
  const [user, vhosts] = await Promise.all([get(path), vhostNames()]);
  const tagsForm = form(
    {
      label: "Change tags",
      submit: "Update tags",
      // The stored hash goes back unchanged: a PUT without one would clear the password.
      action: async ({ tags }) => {
        const current = await get(path);
        await put(path, {
          tags,
          password_hash: current.password_hash,
          hashing_algorithm: current.hashing_algorithm,
        });
        toast(`Tags of ${name} updated.`);
      },
    },
    tagsField(user.tags.join(", ")),
  );
  const passwordForm = form(
    {
      label: "Change password",
      submit: "Change password",
      action: async ({ password }, element) => {
        const current = await get(path);
        await put(path, { password, tags: current.tags.join(",") });
        toast(`Password of ${name} changed.`);
        element.reset();
      },
    },
    field(
      "New password",
      input("password", { type: "password", autocomplete: "new-password", required: true }),
    ),
  );
  const permissions = permissionsPanel({
    fixed: { user: name },
    list: `${path}/permissions`,
    others: vhosts,
  });
  const topics = topicPermissionsPanel({
    fixed: { user: name },
    list: `${path}/topic-permissions`,
    others: vhosts,
  });
  const limits = limitsPanel({ kind: "user", name, limits: ["max-connections", "max-channels"] });
  const remover = form({
    label: "Delete this user",
    submit: "Delete user",
    danger: true,
    action: async () => {
      if (!window.confirm(`Delete user ${name}?`)) return;
      await del(path);
      toast(`User ${name} deleted.`);
      location.hash = href("admin", "users");
    },
  });
  ctx.main.append(
    section(
      "Details",
      facts([
        ["Tags", user.tags.join(", ") || "none"],
        ["Password", user.password_hash ? "set" : "none"],
        ["Hashing", user.hashing_algorithm],
      ]),
    ),
    h("div", { class: "columns" }, section("Tags", tagsForm), section("Password", passwordForm)),
    section("Permissions", permissions.element),
    section("Topic permissions", topics.element),
    section("Limits", limits.element),
    section("Delete", remover),
  );
  await Promise.all([permissions.refresh(), topics.refresh(), limits.refresh()]);
}
