// Building the page from data without ever parsing data as HTML.
//
// Every text the API sends ends up in a text node (textContent), every attribute is set
// with setAttribute on an element made by createElement(NS): a userName such as
// "<img src=x onerror=alert(1)>" is shown as those characters and creates no element.
// The Content-Security-Policy refuses inline scripts and styles anyway.

const SVG = "http://www.w3.org/2000/svg";

function fill(element, attrs, children) {
  for (const [name, value] of Object.entries(attrs || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (name === "on") {
      for (const [event, handler] of Object.entries(value)) element.addEventListener(event, handler);
    } else if (name === "dataset") {
      Object.assign(element.dataset, value);
    } else if (name === "value" && "value" in element) {
      element.value = String(value);
    } else {
      element.setAttribute(name, value === true ? "" : String(value));
    }
  }
  append(element, children);
  return element;
}

function append(parent, children) {
  for (const child of children) {
    if (child === null || child === undefined || child === false) continue;
    if (Array.isArray(child)) append(parent, child);
    else if (child instanceof Node) parent.appendChild(child);
    else parent.appendChild(document.createTextNode(String(child)));
  }
}

/** An HTML element: h("a", {href: "#/jobs"}, "Jobs"). */
export function h(tag, attrs, ...children) {
  return fill(document.createElement(tag), attrs, children);
}

/** An SVG element, for charts. */
export function s(tag, attrs, ...children) {
  return fill(document.createElementNS(SVG, tag), attrs, children);
}

/** Replace what ``parent`` holds with ``children``. */
export function put(parent, ...children) {
  parent.replaceChildren();
  append(parent, children);
  return parent;
}

/** Run ``work()`` with ``buttons`` disabled, and answer its result: a second click while
 * the relay answers sends nothing twice. */
export async function busy(buttons, work) {
  for (const button of buttons) button.disabled = true;
  try {
    return await work();
  } finally {
    for (const button of buttons) button.disabled = false;
  }
}

/** A link inside the dashboard: route and query values are URL-encoded. */
export function link(text, path, query) {
  return h("a", { href: route(path, query) }, text);
}

export function route(path, query) {
  const params = new URLSearchParams();
  for (const [name, value] of Object.entries(query || {})) {
    if (value !== null && value !== undefined && value !== "") params.set(name, value);
  }
  const text = params.toString();
  return "#/" + path.split("/").map(encodeURIComponent).join("/") + (text ? "?" + text : "");
}

/** An ISO time as "3 min ago" (or "in 2 min"), the full time in its tooltip. */
export function when(iso) {
  if (iso === null || iso === undefined || iso === "") return h("span", { class: "muted" }, "—");
  const at = moment(iso);
  return h("time", { datetime: at.toISOString(), title: at.toLocaleString() }, relative(at));
}

/** An API time (ISO 8601; a Unix time in seconds is taken too) as a Date. */
export function moment(value) {
  return typeof value === "number" ? new Date(value * 1000) : new Date(value);
}

/** Bring every "3 min ago" below ``root`` up to date. */
export function retime(root) {
  for (const element of root.querySelectorAll("time[datetime]")) {
    element.textContent = relative(new Date(element.getAttribute("datetime")));
  }
}

export function relative(at) {
  const seconds = (at.getTime() - Date.now()) / 1000;
  const text = duration(Math.abs(seconds));
  if (Math.abs(seconds) < 1) return "just now";
  return seconds < 0 ? `${text} ago` : `in ${text}`;
}

/** Seconds as "45 s", "3 min 20 s", "2 h 5 min", "3 d 4 h". */
export function duration(seconds) {
  if (seconds === null || seconds === undefined || !Number.isFinite(seconds)) return "—";
  const s = Math.round(seconds);
  if (s < 60) return `${s} s`;
  if (s < 3600) return `${Math.floor(s / 60)} min ${s % 60} s`;
  if (s < 86400) return `${Math.floor(s / 3600)} h ${Math.floor((s % 3600) / 60)} min`;
  return `${Math.floor(s / 86400)} d ${Math.floor((s % 86400) / 3600)} h`;
}

export function number(value, digits = 0) {
  if (value === null || value === undefined) return "—";
  return Number(value).toLocaleString(undefined, {
    minimumFractionDigits: digits,
    maximumFractionDigits: digits,
  });
}

/** A table from column headings and rows of cells (strings or nodes). */
export function table(headings, rows, attrs) {
  return h(
    "table",
    attrs,
    h("thead", null, h("tr", null, headings.map((heading) => h("th", { scope: "col" }, heading)))),
    h("tbody", null, rows),
  );
}

/** A badge for a state ("running", "quarantined", "failure"...). */
export function badge(text) {
  const state = String(text).includes("waiting for approval") ? "waiting" : String(text).split(/[ ,]/)[0];
  return h("span", { class: `badge state-${state}` }, text);
}

/** A term / value list: pairs is [[term, value], ...]. */
export function facts(pairs) {
  return h(
    "dl",
    { class: "facts" },
    pairs.map(([term, value]) => [h("dt", null, term), h("dd", null, value)]),
  );
}

/** Any JSON value as readable text: strings bare, the rest as JSON. */
export function show(value) {
  if (value === null || value === undefined) return "—";
  if (typeof value === "string") return value;
  return JSON.stringify(value);
}
