// A table of one API list, paged, sorted and filtered by the server (sort, sort_reverse,
// name, use_regex, page, page_size), so it stays fast with tens of thousands of rows.
import { get } from "./api.js";
import { count, h, refill } from "./dom.js";

const PAGE_SIZES = [20, 50, 100, 500];
// Each table's paging, sort and filter, kept while the tab lives (back to a list keeps it).
const remembered = new Map();

// columns: [{ label, sort (the API's field, dotted; omit when not sortable), value(item)
// (text or a node), num (right-aligned) }]; path(): the API list path, read at each load.
export function pagedTable({ id, label, path, columns, empty = "Nothing to show." }) {
  const state = remembered.get(id) || {
    page: 1,
    pageSize: 50,
    sort: "",
    reverse: false,
    name: "",
    regex: false,
  };
  remembered.set(id, state);

  const filter = h("input", {
    type: "search",
    value: state.name,
    "aria-label": `Filter ${label} by name`,
  });
  const regex = h("input", { type: "checkbox", checked: state.regex });
  const summary = h("span", { class: "summary", role: "status" });
  const headRow = h("tr");
  const body = h("tbody");
  const pageInfo = h("span", { class: "page-info" });
  const previous = h("button", { type: "button" }, "Previous");
  const next = h("button", { type: "button" }, "Next");
  const size = h(
    "select",
    { "aria-label": "Rows per page" },
    PAGE_SIZES.map((n) => h("option", { value: n, selected: n === state.pageSize }, n)),
  );
  const error = h("p", { class: "form-error", role: "alert" });

  for (const column of columns) {
    const th = h("th", { scope: "col", class: column.num ? "num" : "" });
    if (column.sort) {
      th.append(
        h(
          "button",
          { type: "button", class: "sort", onclick: () => sortBy(column.sort) },
          column.label,
        ),
      );
    } else {
      th.append(column.label);
    }
    column.th = th;
    headRow.append(th);
  }

  const element = h(
    "div",
    { class: "paged" },
    h(
      "div",
      { class: "table-tools" },
      h("label", { class: "filter" }, "Filter ", filter),
      h("label", { class: "check" }, regex, "Regex"),
      summary,
    ),
    h(
      "div",
      { class: "table-scroll" },
      h("table", { "aria-label": label }, h("thead", {}, headRow), body),
    ),
    error,
    h(
      "nav",
      { class: "pager", "aria-label": `${label} pages` },
      previous,
      pageInfo,
      next,
      h("label", {}, "Per page ", size),
    ),
  );

  let loading = null;
  let cost = 0; // ms the last load took, and when it finished
  let finished = 0;

  // The refresh tick: skipped while the last load was recent compared with its cost, so
  // a list that takes the broker a second to build (tens of thousands of queues) is asked
  // for at most every ten seconds, whatever the refresh interval.
  function refresh() {
    if (Date.now() - finished >= cost * 10) load();
  }

  async function load() {
    const query = {
      page: state.page,
      page_size: state.pageSize,
      name: state.name,
      use_regex: state.regex ? "true" : "",
      sort: state.sort,
      sort_reverse: state.sort ? String(state.reverse) : "",
    };
    const startedAt = Date.now();
    const started = (loading = get(path(), query));
    try {
      let reply = await started;
      finished = Date.now();
      cost = finished - startedAt;
      if (started !== loading) return; // a newer load overtook this one
      // An endpoint without paging answers a plain list.
      if (Array.isArray(reply)) reply = { items: reply, page: 1, page_count: 1 };
      error.textContent = "";
      if (reply.page_count && state.page > reply.page_count) {
        state.page = reply.page_count;
        return load();
      }
      render(reply);
    } catch (failure) {
      if (started === loading) error.textContent = failure.message;
    }
  }

  function render(reply) {
    const items = reply.items || [];
    refill(body, items, () =>
      items.length
        ? items.map((item) =>
            h(
              "tr",
              {},
              columns.map((c) => h("td", { class: c.num ? "num" : "" }, c.value(item))),
            ),
          )
        : h("tr", {}, h("td", { colspan: columns.length, class: "empty" }, empty)),
    );
    const filtered = reply.filtered_count ?? items.length;
    const total = reply.total_count ?? filtered;
    summary.textContent =
      filtered === total
        ? `${count(total)} ${label.toLowerCase()}`
        : `${count(filtered)} of ${count(total)} ${label.toLowerCase()}`;
    pageInfo.textContent = `Page ${reply.page || 1} of ${Math.max(reply.page_count || 1, 1)}`;
    previous.disabled = state.page <= 1;
    next.disabled = state.page >= (reply.page_count || 1);
    for (const column of columns) {
      const sorted = column.sort && column.sort === state.sort;
      if (sorted) column.th.setAttribute("aria-sort", state.reverse ? "descending" : "ascending");
      else column.th.removeAttribute("aria-sort");
    }
  }

  function sortBy(key) {
    state.reverse = state.sort === key ? !state.reverse : false;
    state.sort = key;
    load();
  }

  let typing = null;
  filter.addEventListener("input", () => {
    clearTimeout(typing);
    typing = setTimeout(() => {
      state.name = filter.value;
      state.page = 1;
      load();
    }, 250);
  });
  regex.addEventListener("change", () => {
    state.regex = regex.checked;
    state.page = 1;
    load();
  });
  previous.addEventListener("click", () => {
    state.page = Math.max(1, state.page - 1);
    load();
  });
  next.addEventListener("click", () => {
    state.page += 1;
    load();
  });
  size.addEventListener("change", () => {
    state.pageSize = Number(size.value);
    state.page = 1;
    load();
  });

  load();
  return { element, refresh, reload: load };
}
