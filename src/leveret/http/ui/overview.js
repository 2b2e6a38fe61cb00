// Overview: totals, live charts of queued messages and message rates, the node's facts
// and alarms, and definitions export/import.
import { apiPath, get, post, vhostNames } from "./api.js";
import { lineChart } from "./chart.js";
import {
  bytes,
  count,
  duration,
  facts,
  h,
  rate,
  replace,
  section,
  statRate,
  toast,
} from "./dom.js";
import { field, form, select } from "./forms.js";

// Histories kept across visits to the overview (until the tab closes).
const queuedSamples = [];
const rateSamples = [];

const TOTALS = [
  ["Connections", (o) => o.object_totals?.connections, "#/connections"],
  ["Channels", (o) => o.object_totals?.channels, "#/channels"],
  ["Exchanges", (o) => o.object_totals?.exchanges, "#/exchanges"],
  ["Queues", (o) => o.object_totals?.queues, "#/queues"],
  ["Consumers", (o) => o.object_totals?.consumers],
  ["Ready", (o) => o.queue_totals?.messages_ready],
  ["Unacked", (o) => o.queue_totals?.messages_unacknowledged],
  ["Total messages", (o) => o.queue_totals?.messages],
];

export async function render(ctx) {
  ctx.heading("Overview");
  const alarms = h("div", { class: "alarms" });
  const totals = h("div", { class: "cards" });
  const queued = lineChart({
    title: "Queued messages",
    series: [
      { key: "ready", label: "Ready" },
      { key: "unacked", label: "Unacked" },
      { key: "total", label: "Total" },
    ],
    format: count,
    samples: queuedSamples,
  });
  const rates = lineChart({
    title: "Message rates",
    series: [
      { key: "publish", label: "Publish" },
      { key: "deliver", label: "Deliver" },
      { key: "ack", label: "Ack" },
      { key: "redeliver", label: "Redeliver" },
      { key: "unroutable", label: "Unroutable" },
    ],
    format: rate,
    samples: rateSamples,
  });
  const node = h("div", { class: "node" });
  ctx.main.append(
    alarms,
    totals,
    h("div", { class: "charts" }, queued.element, rates.element),
    section("Node", node),
    section("Definitions", await definitions(ctx)),
  );

  async function refresh() {
    const [o, nodes] = await Promise.all([get("overview"), get("nodes").catch(() => [])]);
    if (!ctx.current()) return;
    const n = nodes[0];
    showAlarms(alarms, n);
    replace(
      totals,
      TOTALS.map(([label, value, target]) =>
        h(
          target ? "a" : "div",
          { class: "card", href: target },
          h("span", { class: "card-label" }, label),
          h("strong", { "data-total": label }, count(value(o))),
        ),
      ),
    );
    const q = o.queue_totals || {};
    queued.push({
      ready: q.messages_ready || 0,
      unacked: q.messages_unacknowledged || 0,
      total: q.messages || 0,
    });
    rates.push({
      publish: statRate(o, "publish") || 0,
      deliver: statRate(o, "deliver_get") || 0,
      ack: statRate(o, "ack") || 0,
      redeliver: statRate(o, "redeliver") || 0,
      unroutable: (statRate(o, "return_unroutable") || 0) + (statRate(o, "drop_unroutable") || 0),
    });
    replace(node, nodeFacts(o, n));
  }
  await refresh();
  ctx.every(refresh);
}

function showAlarms(region, n) {
  const raised = [];
  if (n?.mem_alarm)
    raised.push(`Memory alarm: ${bytes(n.mem_used)} used, limit ${bytes(n.mem_limit)}.`);
  if (n?.disk_free_alarm)
    raised.push(`Disk alarm: ${bytes(n.disk_free)} free, limit ${bytes(n.disk_free_limit)}.`);
  replace(
    region,
    raised.length
      ? h(
          "div",
          { class: "alarm", role: "alert" },
          h("strong", {}, "Publishers are blocked. "),
          raised.join(" "),
        )
      : null,
  );
}

function meter(value, max, label) {
  return h("meter", { min: 0, max: max || 1, value, high: (max || 1) * 0.8, "aria-label": label });
}

function nodeFacts(o, n) {
  const listeners = h(
    "table",
    { class: "compact", "aria-label": "Listeners" },
    h(
      "thead",
      {},
      h(
        "tr",
        {},
        h("th", { scope: "col" }, "Protocol"),
        h("th", { scope: "col" }, "Address"),
        h("th", { scope: "col", class: "num" }, "Port"),
      ),
    ),
    h(
      "tbody",
      {},
      (o.listeners || []).map((l) =>
        h(
          "tr",
          {},
          h("td", {}, l.protocol),
          h("td", {}, l.ip_address),
          h("td", { class: "num" }, l.port),
        ),
      ),
    ),
  );
  if (!n)
    return [
      facts([
        ["Node", o.node],
        ["Version", `${o.product_name} ${o.product_version}`],
      ]),
      listeners,
    ];
  return [
    facts([
      ["Node", o.node],
      ["Cluster", o.cluster_name],
      ["Version", `${o.product_name} ${o.product_version}`],
      ["Uptime", duration(n.uptime)],
      [
        "Memory",
        h(
          "span",
          {},
          meter(n.mem_used, n.mem_limit, "Memory used against the high watermark"),
          ` ${bytes(n.mem_used)}, watermark ${bytes(n.mem_limit)}`,
        ),
      ],
      [
        "Disk free",
        h(
          "span",
          { class: n.disk_free_alarm ? "bad" : "" },
          `${bytes(n.disk_free)} (limit ${bytes(n.disk_free_limit)})`,
        ),
      ],
      ["File descriptors", `${count(n.fd_used)} of ${count(n.fd_total)}`],
      ["Sockets", `${count(n.sockets_used)} of ${count(n.sockets_total)}`],
      ["Processors", n.processors],
      ["Data directory", n.db_dir],
    ]),
    listeners,
  ];
}

function download(name, text) {
  const url = URL.createObjectURL(new Blob([text], { type: "application/json" }));
  const a = h("a", { href: url, download: name });
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 1000);
}

async function definitions(ctx) {
  const scopes = [["", "All virtual hosts"], ...(await vhostNames()).map((v) => [v, v])];
  const path = (vhost) => (vhost ? `definitions/${apiPath(vhost)}` : "definitions");
  const exporter = form(
    {
      label: "Export definitions",
      submit: "Download",
      className: "inline",
      action: async ({ scope }) => {
        const body = await get(path(scope));
        const stamp = new Date().toISOString().slice(0, 10);
        download(`leveret-definitions-${stamp}.json`, JSON.stringify(body, null, 2));
      },
    },
    field("Export from", select("scope", scopes, "")),
  );
  const file = h("input", {
    type: "file",
    name: "file",
    accept: ".json,application/json",
    required: true,
  });
  const importer = form(
    {
      label: "Import definitions",
      submit: "Upload",
      className: "inline",
      action: async ({ scope }, element) => {
        const chosen = file.files[0];
        if (!chosen) throw new Error("Choose a definitions file first.");
        let body;
        try {
          body = JSON.parse(await chosen.text());
        } catch {
          throw new Error(`${chosen.name} is not JSON.`);
        }
        await post(path(scope), body);
        toast(`Definitions imported from ${chosen.name}.`);
        element.reset();
        await ctx.reloadVhosts();
      },
    },
    field("Definitions file", file),
    field("Import into", select("scope", scopes, "")),
  );
  return [h("h3", {}, "Export"), exporter, h("h3", {}, "Import"), importer];
}
