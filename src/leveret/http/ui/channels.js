// Channels: the paged list (prefetch, unacked, unconfirmed, rates) and a channel's page
// with its consumers.
import { apiPath, get } from "./api.js";
import { count, facts, h, link, rate, refill, section, statRate } from "./dom.js";
import { pagedTable } from "./table.js";

function mode(c) {
  return [c.confirm && "confirm", c.transactional && "tx"].filter(Boolean).join(", ") || "–";
}

// Shared with the connection page, where the connection column is left out.
export function channelColumns(onConnectionPage = false, showVhost = true) {
  return [
    {
      label: "Channel",
      sort: "name",
      value: (c) => link(onConnectionPage ? `Channel ${c.number}` : c.name, "channels", c.name),
    },
    showVhost &&
      !onConnectionPage && { label: "Virtual host", sort: "vhost", value: (c) => c.vhost },
    !onConnectionPage && { label: "User", sort: "user", value: (c) => c.user },
    { label: "Mode", value: mode },
    {
      label: "State",
      sort: "state",
      value: (c) => h("span", { class: `state ${c.state}` }, c.state),
    },
    { label: "Prefetch", sort: "prefetch_count", num: true, value: (c) => count(c.prefetch_count) },
    {
      label: "Unacked",
      sort: "messages_unacknowledged",
      num: true,
      value: (c) => count(c.messages_unacknowledged),
    },
    {
      label: "Unconfirmed",
      sort: "messages_unconfirmed",
      num: true,
      value: (c) => count(c.messages_unconfirmed),
    },
    {
      label: "Consumers",
      sort: "consumer_count",
      num: true,
      value: (c) => count(c.consumer_count),
    },
    {
      label: "Publish",
      sort: "message_stats.publish_details.rate",
      num: true,
      value: (c) => rate(statRate(c, "publish")),
    },
    {
      label: "Deliver",
      sort: "message_stats.deliver_get_details.rate",
      num: true,
      value: (c) => rate(statRate(c, "deliver_get")),
    },
    {
      label: "Ack",
      sort: "message_stats.ack_details.rate",
      num: true,
      value: (c) => rate(statRate(c, "ack")),
    },
  ].filter(Boolean);
}

export function list(ctx) {
  ctx.heading("Channels");
  const table = pagedTable({
    id: "channels",
    label: "Channels",
    path: () => (ctx.vhost ? `vhosts/${apiPath(ctx.vhost)}/channels` : "channels"),
    columns: channelColumns(false, !ctx.vhost),
    empty: "No channels.",
  });
  ctx.main.append(table.element);
  ctx.every(table.refresh);
}

export function consumersTable(consumers, { showQueue = true, showChannel = true } = {}) {
  const head = [
    "Consumer tag",
    showQueue && "Queue",
    showChannel && "Channel",
    "Ack required",
    "Prefetch",
    "Exclusive",
    "Active",
    "Arguments",
  ].filter(Boolean);
  return h(
    "div",
    { class: "table-scroll" },
    h(
      "table",
      { "aria-label": "Consumers" },
      h(
        "thead",
        {},
        h(
          "tr",
          {},
          head.map((label) => h("th", { scope: "col" }, label)),
        ),
      ),
      h(
        "tbody",
        {},
        consumers.length
          ? consumers.map((c) =>
              h(
                "tr",
                {},
                h("td", {}, c.consumer_tag),
                showQueue && h("td", {}, link(c.queue.name, "queues", c.queue.vhost, c.queue.name)),
                showChannel &&
                  h("td", {}, link(c.channel_details.name, "channels", c.channel_details.name)),
                h("td", {}, c.ack_required ? "yes" : "no"),
                h("td", { class: "num" }, count(c.prefetch_count)),
                h("td", {}, c.exclusive ? "yes" : "no"),
                h("td", {}, c.active ? c.activity_status || "up" : "waiting"),
                h(
                  "td",
                  {},
                  h(
                    "code",
                    {},
                    Object.keys(c.arguments || {}).length ? JSON.stringify(c.arguments) : "",
                  ),
                ),
              ),
            )
          : h("tr", {}, h("td", { colspan: head.length, class: "empty" }, "No consumers.")),
      ),
    ),
  );
}

export async function page(ctx, name) {
  ctx.heading("Channel");
  const path = `channels/${apiPath(name)}`;
  const details = h("div");
  const consumers = h("div");
  ctx.main.append(
    h("p", { class: "subtitle" }, name),
    section("Details", details),
    section("Consumers", consumers),
  );

  async function refresh() {
    const c = await get(path);
    if (!ctx.current()) return;
    refill(details, c, () =>
      facts([
        ["Connection", link(c.connection_details.name, "connections", c.connection_details.name)],
        ["Number", c.number],
        ["Virtual host", c.vhost],
        ["User", c.user],
        ["State", c.state],
        ["Mode", mode(c)],
        [
          "Prefetch",
          `${count(c.prefetch_count)} per consumer, ${count(c.global_prefetch_count)} per channel`,
        ],
        ["Unacked", count(c.messages_unacknowledged)],
        ["Unconfirmed", count(c.messages_unconfirmed)],
        [
          "Uncommitted",
          `${count(c.messages_uncommitted)} messages, ${count(c.acks_uncommitted)} acks`,
        ],
        ["Publish", rate(statRate(c, "publish"))],
        ["Deliver", rate(statRate(c, "deliver_get"))],
        ["Ack", rate(statRate(c, "ack"))],
      ]),
    );
    refill(consumers, c.consumer_details || [], (list) =>
      consumersTable(list, { showChannel: false }),
    );
  }
  await refresh();
  ctx.every(refresh);
}
