// A running cycle's progress: a bar with done / total, the rate and the time left.

import { duration, h, number } from "./dom.js";

/** The progress of a cycle ({cycle, kind, started_at, done, total, rate, eta_seconds}). */
export function progressBar(progress) {
  if (!progress) return h("span", { class: "muted" }, "no cycle running");
  const known = progress.total !== null && progress.total !== undefined;
  const bar = h("progress", {
    max: known ? Math.max(progress.total, 1) : null,
    value: known ? Math.min(progress.done, Math.max(progress.total, 1)) : null,
    dataset: { cycle: progress.cycle, done: progress.done },
    "aria-label": `${progress.kind} cycle progress`,
  });
  const parts = [known ? `${number(progress.done)} / ${number(progress.total)}` : `${number(progress.done)} done`];
  if (progress.rate !== null && progress.rate !== undefined) parts.push(`${number(progress.rate, 1)}/s`);
  if (progress.eta_seconds !== null && progress.eta_seconds !== undefined) {
    parts.push(`ETA ${duration(progress.eta_seconds)}`);
  }
  return h(
    "div",
    { class: "progress" },
    h("span", { class: "kind" }, progress.kind),
    bar,
    h("span", { class: "numbers" }, parts.join(" · ")),
  );
}
