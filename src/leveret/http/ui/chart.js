// A live line chart drawn as SVG by hand: the screen pushes one sample per poll, the chart
// keeps the last `capacity` and redraws at its container's width.
import { h } from "./dom.js";

const SVG = "http://www.w3.org/2000/svg";
const HEIGHT = 150;
const PAD = { top: 8, right: 8, bottom: 18, left: 48 };

function svg(tag, attrs = {}) {
  const element = document.createElementNS(SVG, tag);
  for (const [key, value] of Object.entries(attrs)) element.setAttribute(key, value);
  return element;
}

// Round a maximum up to 1, 2 or 5 times a power of ten, for readable gridlines.
function niceMax(value) {
  if (value <= 0) return 1;
  const power = 10 ** Math.floor(Math.log10(value));
  return [1, 2, 5, 10].map((m) => m * power).find((m) => m >= value);
}

function shortNumber(n) {
  if (n >= 1e6) return `${+(n / 1e6).toFixed(1)}M`;
  if (n >= 1e3) return `${+(n / 1e3).toFixed(1)}k`;
  return `${+n.toFixed(1)}`;
}

// series: [{ key, label }]; format(value) renders the legend's current values.
// samples: [time ms, {key: value}] pairs; pass an array kept by the caller for a history
// that outlives the screen.
export function lineChart({ title, series, format, capacity = 120, samples = [] }) {
  const plot = h("div", { class: "plot" });
  const values = series.map(() => h("span", { class: "value" }, "–"));
  const legend = h(
    "ul",
    { class: "legend" },
    series.map((s, i) =>
      h(
        "li",
        {},
        h("span", { class: `swatch c${i}`, "aria-hidden": "true" }),
        `${s.label} `,
        values[i],
      ),
    ),
  );
  const element = h("figure", { class: "chart" }, h("figcaption", {}, title), plot, legend);

  function draw() {
    const width = Math.max(plot.clientWidth || 0, 240);
    const chart = svg("svg", {
      width,
      height: HEIGHT,
      viewBox: `0 0 ${width} ${HEIGHT}`,
      role: "img",
    });
    const latest = samples.at(-1)?.[1] || {};
    chart.setAttribute(
      "aria-label",
      `${title}: ` + series.map((s) => `${s.label} ${format(latest[s.key] ?? 0)}`).join(", "),
    );
    const innerW = width - PAD.left - PAD.right;
    const innerH = HEIGHT - PAD.top - PAD.bottom;
    const top = niceMax(
      Math.max(0, ...samples.flatMap(([, v]) => series.map((s) => v[s.key] || 0))),
    );
    for (const fraction of [0, 0.5, 1]) {
      const y = PAD.top + innerH * (1 - fraction);
      chart.append(
        svg("line", { x1: PAD.left, x2: width - PAD.right, y1: y, y2: y, class: "grid" }),
      );
      const label = svg("text", { x: PAD.left - 6, y: y + 4, class: "axis", "text-anchor": "end" });
      label.textContent = shortNumber(top * fraction);
      chart.append(label);
    }
    if (samples.length < 2) {
      const note = svg("text", {
        x: PAD.left + innerW / 2,
        y: PAD.top + innerH / 2,
        class: "axis",
        "text-anchor": "middle",
      });
      note.textContent = "collecting samples…";
      chart.append(note);
    } else {
      const first = samples[0][0];
      const span = Math.max(samples.at(-1)[0] - first, 1);
      series.forEach((s, i) => {
        const points = samples.map(([t, v]) => {
          const x = PAD.left + ((t - first) / span) * innerW;
          const y = PAD.top + innerH * (1 - (v[s.key] || 0) / top);
          return `${x.toFixed(1)},${y.toFixed(1)}`;
        });
        chart.append(svg("polyline", { points: points.join(" "), class: `line c${i}` }));
      });
      const age = svg("text", { x: PAD.left, y: HEIGHT - 4, class: "axis" });
      age.textContent = `last ${Math.round(span / 1000)} s`;
      chart.append(age);
    }
    plot.replaceChildren(chart);
    series.forEach((s, i) => (values[i].textContent = format(latest[s.key] ?? 0)));
  }

  const resized = new ResizeObserver(() => draw());
  resized.observe(plot);

  return {
    element,
    push(valuesByKey, time = Date.now()) {
      samples.push([time, valuesByKey]);
      if (samples.length > capacity) samples.shift();
      draw();
    },
  };
}
