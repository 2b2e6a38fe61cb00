// One exchange: its facts, bindings from and to it, publishing a message, deleting it.
import { apiPath, del, get, post } from "./api.js";
import { bindForm, bindingsTable, exchangeLabel, exchangeSegment } from "./bindings.js";
import { add, facts, h, href, rate, refill, section, statRate, toast } from "./dom.js";
import { features } from "./exchanges.js";
import { argumentsEditor, checkbox, field, form, input, select } from "./forms.js";

export async function page(ctx, vhost, name) {
  const actual = name === "amq.default" ? "" : name;
  ctx.heading(`Exchange ${exchangeLabel(actual)}`);
  const path = `exchanges/${apiPath(vhost)}/${apiPath(exchangeSegment(actual))}`;
  const details = h("div");
  const outgoing = h("div");
  const incoming = h("div");
  add(
    ctx.main,
    h("p", { class: "subtitle" }, `in virtual host ${vhost}`),
    section("Details", details),
    section(
      "Bindings from this exchange",
      outgoing,
      actual ? bindForm(vhost, { source: actual }, refresh) : null,
    ),
    section("Bindings to this exchange", incoming),
    section("Publish a message", publishForm(path)),
    actual && !actual.startsWith("amq.")
      ? section("Delete", deleteForm(vhost, actual, path))
      : null,
  );

  async function refresh() {
    // The default exchange's bindings are implicit, one per queue: not worth listing.
    const [x, from, to] = await Promise.all([
      get(path),
      actual ? get(`${path}/bindings/source`) : null,
      get(`${path}/bindings/destination`),
    ]);
    if (!ctx.current()) return;
    refill(details, x, () =>
      facts([
        ["Type", x.type],
        ["Features", features(x)],
        ["Policy", x.policy],
        ["Publish in", rate(statRate(x, "publish_in"))],
        ["Publish out", rate(statRate(x, "publish_out"))],
      ]),
    );
    refill(outgoing, from, () =>
      from
        ? bindingsTable(from, {
            label: "Bindings from this exchange",
            side: "destination",
            changed: refresh,
          })
        : h(
            "p",
            {},
            "The default exchange routes to the queue named by the routing key; every queue is bound to it.",
          ),
    );
    refill(incoming, to, () =>
      bindingsTable(to, { label: "Bindings to this exchange", side: "source", changed: refresh }),
    );
  }
  await refresh();
  ctx.every(refresh);
}

const PROPERTIES = [
  "content_type",
  "content_encoding",
  "correlation_id",
  "reply_to",
  "expiration",
  "message_id",
  "type",
  "app_id",
  "user_id",
];

function publishForm(path) {
  const headers = argumentsEditor("Headers");
  const result = h("p", { class: "result", role: "status" });
  const element = form(
    {
      label: "Publish a message",
      submit: "Publish message",
      action: async (values) => {
        const properties = {
          delivery_mode: Number(values.delivery_mode),
          headers: headers.value(),
        };
        for (const key of PROPERTIES) if (values[key]) properties[key] = values[key];
        if (values.priority) properties.priority = Number(values.priority);
        const reply = await post(`${path}/publish`, {
          routing_key: values.routing_key,
          payload: values.payload,
          payload_encoding: values.payload_encoding,
          properties,
        });
        result.textContent = reply.routed
          ? "Message published."
          : "Message published, but not routed to any queue.";
        result.className = reply.routed ? "result ok" : "result warn";
      },
    },
    field("Routing key", input("routing_key")),
    field(
      "Delivery mode",
      select(
        "delivery_mode",
        [
          ["1", "1 – non-persistent"],
          ["2", "2 – persistent"],
        ],
        "1",
      ),
    ),
    headers,
    h(
      "details",
      { class: "more" },
      h("summary", {}, "Properties"),
      h(
        "div",
        { class: "grid" },
        PROPERTIES.map((key) => field(key, input(key))),
        field("priority", input("priority", { type: "number", min: 0, max: 255 })),
      ),
    ),
    field("Payload", h("textarea", { name: "payload", rows: 4 })),
    field(
      "Payload encoding",
      select(
        "payload_encoding",
        [
          ["string", "String"],
          ["base64", "Base64"],
        ],
        "string",
      ),
    ),
  );
  element.append(result);
  return element;
}

function deleteForm(vhost, name, path) {
  return form(
    {
      label: "Delete this exchange",
      submit: "Delete exchange",
      danger: true,
      action: async ({ if_unused }) => {
        if (!window.confirm(`Delete exchange ${name}?`)) return;
        await del(if_unused ? `${path}?if-unused=true` : path);
        toast(`Exchange ${name} deleted.`);
        location.hash = href("exchanges");
      },
    },
    checkbox("Only if it has no bindings from it", "if_unused"),
  );
}
