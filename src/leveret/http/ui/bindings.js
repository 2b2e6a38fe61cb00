// Bindings, shared by the exchange and queue pages: a table with unbind buttons and a
// form that binds (POST /api/bindings/{vhost}/e/{source}/{q|e}/{destination}).
import { apiPath, del, post } from "./api.js";
import { h, json, link, toast } from "./dom.js";
import { argumentsEditor, field, form, input, select } from "./forms.js";

// The default exchange appears in paths as amq.default, as in RabbitMQ's.
export function exchangeSegment(name) {
  return name || "amq.default";
}

export function exchangeLabel(name) {
  return name || "(AMQP default)";
}

function bindingPath(b) {
  const kind = b.destination_type === "queue" ? "q" : "e";
  return `bindings/${apiPath(b.vhost)}/e/${apiPath(b.source)}/${kind}/${apiPath(b.destination)}/${apiPath(b.properties_key)}`;
}

function endpoint(b, side) {
  if (side === "source")
    return link(exchangeLabel(b.source), "exchanges", b.vhost, exchangeSegment(b.source));
  const kind = b.destination_type === "queue" ? "queues" : "exchanges";
  return h(
    "span",
    {},
    link(b.destination, kind, b.vhost, b.destination),
    h("small", { class: "sub" }, b.destination_type),
  );
}

// side: which end to show ("source" on a queue's page, "destination" for an exchange's
// outgoing bindings); `changed` runs after an unbind.
export function bindingsTable(bindings, { label, side, changed }) {
  const head = [
    side === "source" ? "From" : "To",
    "Routing key",
    "Arguments",
    h("span", { class: "sr-only" }, "Actions"),
  ];
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
          head.map((text) => h("th", { scope: "col" }, text)),
        ),
      ),
      h(
        "tbody",
        {},
        bindings.length
          ? bindings.map((b) =>
              h(
                "tr",
                {},
                h("td", {}, endpoint(b, side)),
                h("td", {}, h("code", {}, b.routing_key)),
                h("td", {}, h("code", {}, json(b.arguments))),
                h(
                  "td",
                  {},
                  // Bindings to the default exchange are implicit and cannot be removed.
                  b.source
                    ? h(
                        "button",
                        {
                          type: "button",
                          "aria-label": `Unbind ${b.source} from ${b.destination} with key ${b.routing_key}`,
                          onclick: async () => {
                            try {
                              await del(bindingPath(b));
                              toast("Binding removed.");
                              changed();
                            } catch (failure) {
                              toast(failure.message, "error");
                            }
                          },
                        },
                        "Unbind",
                      )
                    : null,
                ),
              ),
            )
          : h("tr", {}, h("td", { colspan: head.length, class: "empty" }, "No bindings.")),
      ),
    ),
  );
}

// fixed: { source } (exchange page: bind to a queue or exchange) or { queue } (queue
// page: bind from an exchange).
export function bindForm(vhost, fixed, changed) {
  const args = argumentsEditor("Binding arguments", [["x-match", "string"]]);
  const fromQueuePage = "queue" in fixed;
  const controls = fromQueuePage
    ? [field("From exchange", input("other", { required: true }))]
    : [
        field(
          "To",
          select(
            "kind",
            [
              ["q", "queue"],
              ["e", "exchange"],
            ],
            "q",
          ),
        ),
        field("Destination name", input("other", { required: true })),
      ];
  return form(
    {
      label: "Add binding",
      submit: "Bind",
      className: "stack",
      action: async (values, element) => {
        const [source, kind, destination] = fromQueuePage
          ? [values.other, "q", fixed.queue]
          : [fixed.source, values.kind, values.other];
        await post(
          `bindings/${apiPath(vhost)}/e/${apiPath(source)}/${kind}/${apiPath(destination)}`,
          {
            routing_key: values.routing_key,
            arguments: args.value(),
          },
        );
        toast(`Bound ${exchangeLabel(source)} to ${destination}.`);
        element.reset();
        args.reset();
        changed();
      },
    },
    controls,
    field("Routing key", input("routing_key")),
    args,
  );
}
