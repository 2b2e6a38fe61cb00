// Connections: the paged list, and one connection's page with its channels and a close
// button that sends the client a reason (DELETE with X-Reason: connection.close 320).
import { apiPath, del, get } from "./api.js";
import { channelColumns } from "./channels.js";
import {
  bytes,
  count,
  duration,
  facts,
  h,
  href,
  json,
  link,
  refill,
  section,
  toast,
  when,
} from "./dom.js";
import { field, form, input } from "./forms.js";
import { pagedTable } from "./table.js";

function client(c) {
  const props = c.client_properties || {};
  return [props.product, props.version].filter(Boolean).join(" ") || "–";
}

function tls(c) {
  return c.ssl ? c.ssl_protocol || "TLS" : "–";
}

function octetRate(c, key) {
  const r = c[`${key}_details`]?.rate;
  return r === undefined ? "–" : `${bytes(Math.round(r))}/s`;
}

export function list(ctx) {
  ctx.heading("Connections");
  const columns = [
    {
      label: "Name",
      sort: "name",
      value: (c) =>
        h(
          "span",
          {},
          link(c.user_provided_name || c.name, "connections", c.name),
          c.user_provided_name ? h("small", { class: "sub" }, c.name) : null,
        ),
    },
    !ctx.vhost && { label: "Virtual host", sort: "vhost", value: (c) => c.vhost },
    { label: "User", sort: "user", value: (c) => c.user },
    {
      label: "State",
      sort: "state",
      value: (c) => h("span", { class: `state ${c.state}` }, c.state),
    },
    { label: "TLS", sort: "ssl", value: tls },
    { label: "Client", sort: "client_properties.product", value: client },
    { label: "Channels", sort: "channels", num: true, value: (c) => count(c.channels) },
    {
      label: "From client",
      sort: "recv_oct_details.rate",
      num: true,
      value: (c) => octetRate(c, "recv_oct"),
    },
    {
      label: "To client",
      sort: "send_oct_details.rate",
      num: true,
      value: (c) => octetRate(c, "send_oct"),
    },
    {
      label: "Connected",
      sort: "connected_at",
      value: (c) => (c.connected_at ? duration(Date.now() - c.connected_at) : "–"),
    },
  ].filter(Boolean);
  const table = pagedTable({
    id: "connections",
    label: "Connections",
    path: () => (ctx.vhost ? `vhosts/${apiPath(ctx.vhost)}/connections` : "connections"),
    columns,
    empty: "No connections.",
  });
  ctx.main.append(table.element);
  ctx.every(table.refresh);
}

export async function page(ctx, name) {
  ctx.heading("Connection");
  const path = `connections/${apiPath(name)}`;
  const details = h("div");
  const channels = pagedTable({
    id: "connection-channels",
    label: "Channels",
    path: () => `${path}/channels`,
    columns: channelColumns(true),
    empty: "No channels open.",
  });
  const closer = form(
    {
      label: "Close this connection",
      submit: "Close connection",
      danger: true,
      action: async ({ reason }) => {
        if (!window.confirm(`Close connection ${name}?`)) return;
        await del(path, { "X-Reason": reason || "Closed via management UI" });
        toast(`Connection ${name} closed.`);
        location.hash = href("connections");
      },
    },
    field(
      "Reason sent to the client",
      input("reason", { value: "Closed via management UI", maxlength: 200 }),
    ),
  );
  ctx.main.append(
    h("p", { class: "subtitle" }, name),
    section("Details", details),
    section("Channels", channels.element),
    section("Close", closer),
  );

  async function refresh() {
    const c = await get(path);
    if (!ctx.current()) return;
    refill(details, c, () =>
      facts([
        ["Name", c.user_provided_name],
        ["Virtual host", c.vhost],
        ["User", c.user],
        ["State", c.state],
        ["Client", client(c)],
        ["Peer", `${c.peer_host}:${c.peer_port}`],
        ["Protocol", c.protocol],
        ["Authentication", c.auth_mechanism],
        ["TLS", c.ssl ? `${c.ssl_protocol} ${c.ssl_cipher || ""}` : "no"],
        ["Heartbeat", c.timeout ? `${c.timeout} s` : "off"],
        ["Frame max", count(c.frame_max)],
        ["Channel max", count(c.channel_max)],
        ["Received", `${bytes(c.recv_oct)} (${octetRate(c, "recv_oct")})`],
        ["Sent", `${bytes(c.send_oct)} (${octetRate(c, "send_oct")})`],
        ["Connected at", when(c.connected_at)],
        ["Client properties", h("code", {}, json(c.client_properties))],
      ]),
    );
  }
  await refresh();
  ctx.every(refresh);
  ctx.every(channels.refresh);
}
