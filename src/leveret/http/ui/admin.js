// Admin: the sub-navigation shared by its screens, and every limit at a glance.
import { get } from "./api.js";
import { h, href, link, section } from "./dom.js";

const SCREENS = [
  ["Users", "admin/users"],
  ["Virtual hosts", "admin/vhosts"],
  ["Limits", "admin/limits"],
];

export function adminNav(current) {
  return h(
    "nav",
    { class: "subnav", "aria-label": "Admin" },
    SCREENS.map(([label, path]) =>
      h("a", { href: `#/${path}`, "aria-current": label === current ? "page" : null }, label),
    ),
  );
}

function limitsTable(label, rows, nameOf, screen) {
  const entries = rows.flatMap((row) =>
    Object.entries(row.value).map(([limit, value]) => [nameOf(row), limit, value]),
  );
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
          ["Name", "Limit", "Value"].map((t) => h("th", { scope: "col" }, t)),
        ),
      ),
      h(
        "tbody",
        {},
        entries.length
          ? entries.map(([name, limit, value]) =>
              h(
                "tr",
                {},
                h("td", {}, link(name, "admin", screen, name)),
                h("td", {}, limit),
                h("td", { class: "num" }, value),
              ),
            )
          : h("tr", {}, h("td", { colspan: 3, class: "empty" }, "No limits set.")),
      ),
    ),
  );
}

export async function limits(ctx) {
  ctx.heading("Limits", adminNav("Limits"));
  const [vhostLimits, userLimits] = await Promise.all([get("vhost-limits"), get("user-limits")]);
  ctx.main.append(
    h(
      "p",
      {},
      "Set limits on a ",
      h("a", { href: href("admin", "vhosts") }, "virtual host"),
      "'s or a ",
      h("a", { href: href("admin", "users") }, "user"),
      "'s page.",
    ),
    section(
      "Virtual host limits",
      limitsTable("Virtual host limits", vhostLimits, (r) => r.vhost, "vhosts"),
    ),
    section(
      "User limits",
      limitsTable("User limits", userLimits, (r) => r.user, "users"),
    ),
  );
}
