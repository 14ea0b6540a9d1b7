// The throughput chart: operations carried out per interval, as an inline SVG made with
// createElementNS (no library, nothing inline the Content-Security-Policy would refuse).

import { h, number, s } from "./dom.js";

const WIDTH = 800;
const HEIGHT = 200;
const LEFT = 56;
const RIGHT = 8;
const TOP = 10;
const BOTTOM = 24;

function clock(iso) {
  return new Date(iso).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
}

/** A bar chart of {step_seconds, points: [{at, succeeded, failed}]}. */
export function throughputChart(series) {
  const points = series.points || [];
  const step = series.step_seconds || 60;
  const highest = Math.max(1, ...points.map((p) => p.succeeded + p.failed));
  const plotWidth = WIDTH - LEFT - RIGHT;
  const plotHeight = HEIGHT - TOP - BOTTOM;
  const slot = plotWidth / Math.max(points.length, 1);
  const y = (value) => TOP + plotHeight - (value / highest) * plotHeight;
  const total = points.reduce((sum, p) => sum + p.succeeded + p.failed, 0);
  const failed = points.reduce((sum, p) => sum + p.failed, 0);

  const bars = points.map((p, i) => {
    const x = LEFT + i * slot + slot * 0.1;
    const width = Math.max(slot * 0.8, 1);
    const label = `${clock(p.at)}: ${number(p.succeeded)} succeeded, ${number(p.failed)} failed`;
    return s(
      "g",
      { class: "bar" },
      s("title", null, label),
      p.succeeded
        ? s("rect", { class: "succeeded", x, y: y(p.succeeded), width, height: y(0) - y(p.succeeded) })
        : null,
      p.failed
        ? s("rect", {
            class: "failed",
            x,
            y: y(p.succeeded + p.failed),
            width,
            height: y(p.succeeded) - y(p.succeeded + p.failed),
          })
        : null,
    );
  });

  const chart = s(
    "svg",
    {
      class: "chart",
      viewBox: `0 0 ${WIDTH} ${HEIGHT}`,
      role: "img",
      "aria-label": `Operations per ${step} s: ${number(total)} in all, ${number(failed)} failed`,
    },
    s("line", { class: "axis", x1: LEFT, y1: y(0), x2: WIDTH - RIGHT, y2: y(0) }),
    s("line", { class: "grid", x1: LEFT, y1: y(highest), x2: WIDTH - RIGHT, y2: y(highest) }),
    s("text", { class: "tick", x: LEFT - 6, y: y(highest) + 4, "text-anchor": "end" }, number(highest)),
    s("text", { class: "tick", x: LEFT - 6, y: y(0) + 4, "text-anchor": "end" }, "0"),
    points.length
      ? [
          s("text", { class: "tick", x: LEFT, y: HEIGHT - 6 }, clock(points[0].at)),
          s("text", { class: "tick", x: WIDTH - RIGHT, y: HEIGHT - 6, "text-anchor": "end" }, clock(points[points.length - 1].at)),
        ]
      : null,
    bars,
    total === 0
      ? s("text", { class: "empty", x: LEFT + plotWidth / 2, y: TOP + plotHeight / 2, "text-anchor": "middle" }, "no operations in this time")
      : null,
  );
  return h(
    "figure",
    { class: "throughput" },
    chart,
    h(
      "figcaption",
      null,
      h("span", { class: "key succeeded" }, "succeeded"),
      " ",
      h("span", { class: "key failed" }, "failed"),
      ` · operations per ${step} s · ${number(total)} in all`,
    ),
  );
}
