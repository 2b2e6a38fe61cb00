// One queue: its facts and depth chart, consumers, bindings, and the operations people
// open the UI for: get messages, move them to another queue, purge, delete.
import { apiPath, del, get, post } from "./api.js";
import { bindForm, bindingsTable } from "./bindings.js";
import { lineChart } from "./chart.js";
import { consumersTable } from "./channels.js";
import {
  add,
  bytes,
  count,
  facts,
  h,
  href,
  json,
  rate,
  refill,
  replace,
  section,
  statRate,
  toast,
} from "./dom.js";
import { features } from "./exchanges.js";
import { actionButton, checkbox, field, form, input, select } from "./forms.js";

// Depth histories per queue, kept while the tab lives.
const depths = new Map();

export async function page(ctx, vhost, name) {
  ctx.heading(`Queue ${name}`);
  const path = `queues/${apiPath(vhost)}/${apiPath(name)}`;
  const key = `${vhost}\u0000${name}`;
  if (!depths.has(key)) depths.set(key, []);
  const chart = lineChart({
    title: "Queue depth",
    series: [
      { key: "ready", label: "Ready" },
      { key: "unacked", label: "Unacked" },
    ],
    format: count,
    samples: depths.get(key),
  });
  const details = h("div");
  const consumers = h("div");
  const bindings = h("div");
  add(
    ctx.main,
    h("p", { class: "subtitle" }, `in virtual host ${vhost}`),
    h("div", { class: "split" }, section("Details", details), chart.element),
    section("Consumers", consumers),
    section("Bindings", bindings, bindForm(vhost, { queue: name }, refresh)),
    section("Get messages", getForm(path)),
    h(
      "div",
      { class: "columns" },
      section("Move messages", moveForm(path, refresh)),
      section(
        "Purge",
        h("p", {}, "Remove every ready message (unacknowledged ones stay with their consumers)."),
        purgeButton(path, name, refresh),
      ),
      section("Delete", deleteForm(path, name)),
    ),
  );

  async function refresh() {
    const [q, bound] = await Promise.all([get(path), get(`${path}/bindings`)]);
    if (!ctx.current()) return;
    chart.push({ ready: q.messages_ready || 0, unacked: q.messages_unacknowledged || 0 });
    refill(details, q, () =>
      facts([
        ["Type", q.type],
        ["Features", features(q)],
        ["Policy", q.policy],
        ["State", q.state],
        ["Ready", h("span", { "data-field": "ready" }, count(q.messages_ready))],
        ["Unacked", h("span", { "data-field": "unacked" }, count(q.messages_unacknowledged))],
        ["Total", count(q.messages)],
        ["Message bytes", bytes(q.message_bytes)],
        [
          "Paged out",
          q.messages_paged_out
            ? `${count(q.messages_paged_out)} (${bytes(q.message_bytes_paged_out)})`
            : null,
        ],
        ["Memory", bytes(q.memory)],
        ["Consumers", h("span", { "data-field": "consumers" }, count(q.consumers))],
        [
          "Consumer capacity",
          q.consumers ? `${Math.round((q.consumer_capacity || 0) * 100)}%` : null,
        ],
        ["Incoming", rate(statRate(q, "publish"))],
        ["Deliver", rate(statRate(q, "deliver_get"))],
        ["Ack", rate(statRate(q, "ack"))],
        ["Redeliver", rate(statRate(q, "redeliver"))],
        ["Exclusive owner", q.owner_pid_details?.name],
      ]),
    );
    refill(consumers, q.consumer_details || [], (list) =>
      consumersTable(list, { showQueue: false }),
    );
    refill(bindings, bound, (list) =>
      bindingsTable(list, { label: "Bindings of this queue", side: "source", changed: refresh }),
    );
  }
  await refresh();
  ctx.every(refresh);
}

const ACK_MODES = [
  ["ack_requeue_true", "Look and put back (nack, requeue)"],
  ["reject_requeue_true", "Reject and requeue"],
  ["ack_requeue_false", "Take them (acknowledge)"],
  ["reject_requeue_false", "Reject without requeue (dead-letter)"],
];

function shownMessage(m, index) {
  return h(
    "article",
    { class: "message", "aria-label": `Message ${index + 1}` },
    h("h3", {}, `Message ${index + 1}`),
    facts([
      ["Exchange", m.exchange || "(AMQP default)"],
      ["Routing key", m.routing_key],
      ["Redelivered", m.redelivered ? "yes" : "no"],
      ["Left in queue", count(m.message_count)],
      ["Properties", h("code", {}, json(m.properties))],
      ["Payload", `${count(m.payload_bytes)} bytes, ${m.payload_encoding}`],
    ]),
    h("pre", { class: "payload" }, m.payload),
  );
}

function getForm(path) {
  const results = h("div", { class: "messages", "aria-live": "polite" });
  const element = form(
    {
      label: "Get messages",
      submit: "Get messages",
      className: "stack",
      action: async (values) => {
        const body = {
          count: Number(values.count) || 1,
          ackmode: values.ackmode,
          encoding: values.encoding,
        };
        if (values.truncate) body.truncate = Number(values.truncate);
        const got = await post(`${path}/get`, body);
        replace(
          results,
          got.length
            ? got.map(shownMessage)
            : h("p", { class: "empty" }, "The queue has no ready messages."),
        );
      },
    },
    field("Ack mode", select("ackmode", ACK_MODES, "ack_requeue_true")),
    field(
      "Encoding",
      select(
        "encoding",
        [
          ["auto", "Auto (text if it is UTF-8)"],
          ["base64", "Base64"],
        ],
        "auto",
      ),
    ),
    field("Messages", input("count", { type: "number", min: 1, value: "1" })),
    field(
      "Truncate payloads to",
      input("truncate", { type: "number", min: 0, placeholder: "bytes (optional)" }),
    ),
  );
  return [element, results];
}

function moveForm(path, changed) {
  return form(
    {
      label: "Move messages",
      submit: "Move messages",
      action: async ({ destination }) => {
        const { moved } = await post(`${path}/move`, { destination });
        toast(`Moved ${count(moved)} message${moved === 1 ? "" : "s"} to ${destination}.`);
        changed();
      },
    },
    h(
      "p",
      {},
      "Moves the messages ready now to another queue of this virtual host, properties unchanged.",
    ),
    field("Destination queue", input("destination", { required: true })),
  );
}

function purgeButton(path, name, changed) {
  return actionButton("Purge messages", `Purge every ready message from ${name}?`, async () => {
    await del(`${path}/contents`);
    toast(`Queue ${name} purged.`);
    changed();
  });
}

function deleteForm(path, name) {
  return form(
    {
      label: "Delete this queue",
      submit: "Delete queue",
      danger: true,
      action: async ({ if_unused, if_empty }) => {
        if (!window.confirm(`Delete queue ${name}?`)) return;
        const query = [if_unused && "if-unused=true", if_empty && "if-empty=true"]
          .filter(Boolean)
          .join("&");
        await del(query ? `${path}?${query}` : path);
        toast(`Queue ${name} deleted.`);
        location.hash = href("queues");
      },
    },
    h(
      "div",
      { class: "checks" },
      checkbox("Only if it has no consumers", "if_unused"),
      checkbox("Only if it is empty", "if_empty"),
    ),
  );
}
