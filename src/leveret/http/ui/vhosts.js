// Virtual hosts: the list, adding one, and a virtual host's page (permissions, topic
// permissions, limits, deletion).
import { apiPath, del, get, put } from "./api.js";
import { limitsPanel, permissionsPanel, topicPermissionsPanel } from "./access.js";
import { adminNav } from "./admin.js";
import { count, facts, h, href, link, rate, section, statRate, toast } from "./dom.js";
import { field, form, input, select } from "./forms.js";
import { pagedTable } from "./table.js";

const QUEUE_TYPES = [["", "(not set: classic)"], "classic", "quorum", "stream"];

export async function list(ctx) {
  ctx.heading("Virtual hosts", adminNav("Virtual hosts"));
  const table = pagedTable({
    id: "vhosts",
    label: "Virtual hosts",
    path: () => "vhosts",
    columns: [
      { label: "Name", sort: "name", value: (v) => link(v.name, "admin", "vhosts", v.name) },
      { label: "Description", value: (v) => v.description || "" },
      { label: "Tags", value: (v) => (v.tags || []).join(", ") },
      {
        label: "Default queue type",
        value: (v) => (v.default_queue_type === "undefined" ? "" : v.default_queue_type),
      },
      { label: "Ready", sort: "messages_ready", num: true, value: (v) => count(v.messages_ready) },
      {
        label: "Unacked",
        sort: "messages_unacknowledged",
        num: true,
        value: (v) => count(v.messages_unacknowledged),
      },
      {
        label: "Publish",
        sort: "message_stats.publish_details.rate",
        num: true,
        value: (v) => rate(statRate(v, "publish")),
      },
    ],
  });
  ctx.every(table.refresh);
  const adder = form(
    {
      label: "Add a virtual host",
      submit: "Add virtual host",
      action: async (values, element) => {
        const body = { description: values.description, tags: values.tags };
        if (values.default_queue_type) body.default_queue_type = values.default_queue_type;
        await put(`vhosts/${apiPath(values.name)}`, body);
        toast(`Virtual host ${values.name} added.`);
        element.reset();
        table.reload();
        ctx.reloadVhosts();
      },
    },
    field("Name", input("name", { required: true })),
    field("Description", input("description")),
    field("Tags", input("tags", { placeholder: "comma-separated" })),
    field("Default queue type", select("default_queue_type", QUEUE_TYPES, "")),
  );
  ctx.main.append(table.element, section("Add a virtual host", adder));
}

export async function page(ctx, name) {
  ctx.heading(`Virtual host ${name}`, adminNav("Virtual hosts"));
  const path = `vhosts/${apiPath(name)}`;
  const [vhost, users] = await Promise.all([get(path), get("users", { columns: "name" })]);
  const userNames = users.map((u) => u.name);
  const permissions = permissionsPanel({
    fixed: { vhost: name },
    list: `${path}/permissions`,
    others: userNames,
  });
  const topics = topicPermissionsPanel({
    fixed: { vhost: name },
    list: `${path}/topic-permissions`,
    others: userNames,
  });
  const limits = limitsPanel({ kind: "vhost", name, limits: ["max-connections", "max-queues"] });
  const remover = form({
    label: "Delete this virtual host",
    submit: "Delete virtual host",
    danger: true,
    action: async () => {
      if (!window.confirm(`Delete virtual host ${name} and everything in it?`)) return;
      await del(path);
      toast(`Virtual host ${name} deleted.`);
      await ctx.reloadVhosts();
      location.hash = href("admin", "vhosts");
    },
  });
  ctx.main.append(
    section(
      "Details",
      facts([
        ["Description", vhost.description],
        ["Tags", (vhost.tags || []).join(", ")],
        [
          "Default queue type",
          vhost.default_queue_type === "undefined" ? "" : vhost.default_queue_type,
        ],
        [
          "Messages",
          `${count(vhost.messages_ready)} ready, ${count(vhost.messages_unacknowledged)} unacked`,
        ],
      ]),
    ),
    section("Permissions", permissions.element),
    section("Topic permissions", topics.element),
    section("Limits", limits.element),
    section("Delete", remover),
  );
  await Promise.all([permissions.refresh(), topics.refresh(), limits.refresh()]);
}
