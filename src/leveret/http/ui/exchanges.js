// Exchanges: the paged list and a form to declare one (any type, with arguments).
import { apiPath, get, put, vhostNames } from "./api.js";
import { h, link, rate, section, statRate, toast } from "./dom.js";
import { argumentsEditor, checkbox, field, form, input, select } from "./forms.js";
import { exchangeLabel, exchangeSegment } from "./bindings.js";
import { pagedTable } from "./table.js";

export function features(item) {
  const flags = [
    item.durable && "durable",
    item.auto_delete && "auto-delete",
    item.internal && "internal",
    item.exclusive && "exclusive",
  ];
  // One "key: value" line per argument (JSON for values that are not plain).
  const args = Object.entries(item.arguments || {}).map(([key, value]) =>
    h(
      "code",
      { class: "args" },
      `${key}: ${typeof value === "object" ? JSON.stringify(value) : value}`,
    ),
  );
  return h(
    "span",
    { class: "features" },
    flags.filter(Boolean).map((f) => h("span", { class: "tag" }, f)),
    args,
  );
}

export async function list(ctx) {
  ctx.heading("Exchanges");
  const table = pagedTable({
    id: "exchanges",
    label: "Exchanges",
    path: () => (ctx.vhost ? `exchanges/${apiPath(ctx.vhost)}` : "exchanges"),
    columns: [
      {
        label: "Name",
        sort: "name",
        value: (x) => link(exchangeLabel(x.name), "exchanges", x.vhost, exchangeSegment(x.name)),
      },
      !ctx.vhost && { label: "Virtual host", sort: "vhost", value: (x) => x.vhost },
      { label: "Type", sort: "type", value: (x) => x.type },
      { label: "Features", value: features },
      { label: "Policy", sort: "policy", value: (x) => x.policy || "" },
      {
        label: "In",
        sort: "message_stats.publish_in_details.rate",
        num: true,
        value: (x) => rate(statRate(x, "publish_in")),
      },
      {
        label: "Out",
        sort: "message_stats.publish_out_details.rate",
        num: true,
        value: (x) => rate(statRate(x, "publish_out")),
      },
    ].filter(Boolean),
  });
  ctx.main.append(table.element);
  ctx.every(table.refresh);
  ctx.main.append(section("Add an exchange", await declareForm(ctx, table.reload)));
}

async function declareForm(ctx, changed) {
  const [vhosts, overview] = await Promise.all([vhostNames(), get("overview")]);
  const types = (overview.exchange_types || []).map((t) => t.name);
  const args = argumentsEditor("Arguments", [["alternate-exchange", "string"]]);
  return form(
    {
      label: "Add an exchange",
      submit: "Add exchange",
      action: async (values, element) => {
        const body = {
          type: values.type,
          durable: values.durable,
          auto_delete: values.auto_delete,
          internal: values.internal,
          arguments: args.value(),
        };
        await put(`exchanges/${apiPath(values.vhost)}/${apiPath(values.name)}`, body);
        toast(`Exchange ${values.name} declared.`);
        element.reset();
        args.reset();
        changed();
      },
    },
    field("Virtual host", select("vhost", vhosts, ctx.vhost || vhosts[0])),
    field("Name", input("name", { required: true })),
    field("Type", select("type", types, "direct")),
    h(
      "div",
      { class: "checks" },
      checkbox("Durable", "durable", true),
      checkbox("Auto-delete", "auto_delete"),
      checkbox("Internal", "internal"),
    ),
    args,
  );
}
