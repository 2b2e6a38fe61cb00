// Queues: the paged list (ready, unacked, rates, consumers, type, arguments, policy) and a
// form to declare one.
import { apiPath, put, vhostNames } from "./api.js";
import { count, h, link, rate, section, statRate, toast } from "./dom.js";
import { features } from "./exchanges.js";
import { argumentsEditor, checkbox, field, form, input, select } from "./forms.js";
import { pagedTable } from "./table.js";

export async function list(ctx) {
  ctx.heading("Queues");
  const table = pagedTable({
    id: "queues",
    label: "Queues",
    path: () => (ctx.vhost ? `queues/${apiPath(ctx.vhost)}` : "queues"),
    columns: [
      { label: "Name", sort: "name", value: (q) => link(q.name, "queues", q.vhost, q.name) },
      !ctx.vhost && { label: "Virtual host", sort: "vhost", value: (q) => q.vhost },
      { label: "Type", sort: "type", value: (q) => q.type },
      { label: "Ready", sort: "messages_ready", num: true, value: (q) => count(q.messages_ready) },
      {
        label: "Unacked",
        sort: "messages_unacknowledged",
        num: true,
        value: (q) => count(q.messages_unacknowledged),
      },
      { label: "Total", sort: "messages", num: true, value: (q) => count(q.messages) },
      {
        label: "Incoming",
        sort: "message_stats.publish_details.rate",
        num: true,
        value: (q) => rate(statRate(q, "publish")),
      },
      {
        label: "Deliver",
        sort: "message_stats.deliver_get_details.rate",
        num: true,
        value: (q) => rate(statRate(q, "deliver_get")),
      },
      {
        label: "Ack",
        sort: "message_stats.ack_details.rate",
        num: true,
        value: (q) => rate(statRate(q, "ack")),
      },
      { label: "Consumers", sort: "consumers", num: true, value: (q) => count(q.consumers) },
      {
        label: "State",
        sort: "state",
        value: (q) => h("span", { class: `state ${q.state}` }, q.state),
      },
      { label: "Features", value: features },
      { label: "Policy", sort: "policy", value: (q) => q.policy || "" },
    ].filter(Boolean),
  });
  ctx.main.append(table.element);
  ctx.every(table.refresh);
  ctx.main.append(section("Add a queue", await declareForm(ctx, table.reload)));
}

// Arguments RabbitMQ users reach for most, offered as shortcuts in the editor.
const SUGGESTED = [
  ["x-message-ttl", "number"],
  ["x-expires", "number"],
  ["x-max-length", "number"],
  ["x-max-length-bytes", "number"],
  ["x-overflow", "string"],
  ["x-dead-letter-exchange", "string"],
  ["x-dead-letter-routing-key", "string"],
  ["x-max-priority", "number"],
  ["x-single-active-consumer", "boolean"],
  ["x-queue-mode", "string"],
];

async function declareForm(ctx, changed) {
  const vhosts = await vhostNames();
  const args = argumentsEditor("Arguments", SUGGESTED);
  return form(
    {
      label: "Add a queue",
      submit: "Add queue",
      action: async (values, element) => {
        const table = args.value();
        if (values.type !== "default") table["x-queue-type"] = values.type;
        await put(`queues/${apiPath(values.vhost)}/${apiPath(values.name)}`, {
          durable: values.durable,
          auto_delete: values.auto_delete,
          arguments: table,
        });
        toast(`Queue ${values.name} declared.`);
        element.reset();
        args.reset();
        changed();
      },
    },
    field("Virtual host", select("vhost", vhosts, ctx.vhost || vhosts[0])),
    field(
      "Type",
      select(
        "type",
        [["default", "Default for the virtual host"], "classic", "quorum", "stream"],
        "default",
      ),
    ),
    field("Name", input("name", { required: true })),
    h(
      "div",
      { class: "checks" },
      checkbox("Durable", "durable", true),
      checkbox("Auto-delete", "auto_delete"),
    ),
    args,
  );
}
