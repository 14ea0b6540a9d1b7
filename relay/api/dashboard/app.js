// The dashboard's frame: sign-in, the hash routes, and the auto-refresh of live pages.
//
// Routes: #/overview, #/agents, #/jobs, #/jobs/NAME, #/logs?filters, #/where?entry=...
// A page is a function (view, params, context) that fills ``view`` and may return
// {refresh}: the overview, agents, jobs and job pages are refreshed every REFRESH_MS
// while shown, and every page's "3 min ago" kept up to date.

import { call, forgetToken, keepToken, onSignedOut, token } from "./api.js";
import { put, retime } from "./dom.js";
import { agentsPage } from "./agents.js";
import { jobPage } from "./job.js";
import { jobsPage } from "./jobs.js";
import { logsPage } from "./logs.js";
import { overviewPage } from "./overview.js";
import { wherePage } from "./where.js";

const REFRESH_MS = 2000;

const PAGES = {
  overview: { title: "Overview", show: overviewPage },
  agents: { title: "Agents", show: agentsPage },
  jobs: { title: "Jobs", show: jobsPage },
  job: { title: "Job", show: jobPage, nav: "jobs" },
  logs: { title: "Provisioning logs", show: logsPage },
  where: { title: "Where is it now", show: wherePage },
};

const $ = (id) => document.getElementById(id);
let me = null; // {name, role} of the signed-in token
let shown = null; // {generation, refresh}
let generation = 0;
let refreshing = false;

function parseRoute() {
  const raw = location.hash.replace(/^#\/?/, "");
  const cut = raw.indexOf("?");
  const path = cut < 0 ? raw : raw.slice(0, cut);
  const params = new URLSearchParams(cut < 0 ? "" : raw.slice(cut + 1));
  const parts = path.split("/").filter(Boolean).map((part) => {
    try {
      return decodeURIComponent(part);
    } catch {
      return part;
    }
  });
  if (parts[0] === "jobs" && parts.length > 1) return { page: "job", args: parts.slice(1), params };
  return { page: PAGES[parts[0]] ? parts[0] : "overview", args: parts.slice(1), params };
}

function notice(text) {
  $("notice").hidden = !text;
  $("notice").textContent = text || "";
}

/** A message about what the operator just did ("3 deletions approved", a refusal). */
function flash(text, failed = false) {
  $("flash").hidden = !text;
  $("flash").className = failed ? "error" : "ok";
  $("flash").textContent = text || "";
}

function showSignIn(message) {
  me = null;
  shown = null;
  generation += 1;
  put($("page"));
  notice(null);
  flash(null);
  $("nav").hidden = true;
  $("who").hidden = true;
  $("sign-in").hidden = false;
  $("sign-in-error").hidden = !message;
  $("sign-in-error").textContent = message || "";
  document.title = "Hatchway · Sign in";
  $("token").focus();
}

function showSignedIn(who) {
  me = who;
  $("sign-in").hidden = true;
  $("sign-in-error").hidden = true;
  $("nav").hidden = false;
  $("who").hidden = false;
  $("who-name").textContent = `${who.name} (${who.role})`;
}

async function route() {
  if (!me) return;
  const { page, args, params } = parseRoute();
  const spec = PAGES[page];
  generation += 1;
  const mine = generation;
  shown = null;
  notice(null);
  flash(null);
  for (const a of document.querySelectorAll("#nav a")) {
    if (a.dataset.page === (spec.nav || page)) a.setAttribute("aria-current", "page");
    else a.removeAttribute("aria-current");
  }
  document.title = `Hatchway · ${args[0] || spec.title}`;
  const view = put($("page"));
  view.dataset.page = page;
  const context = {
    role: me.role,
    current: () => mine === generation,
    flash,
    fail: (error) => flash(error.message, true),
  };
  try {
    const live = await spec.show(view, { args, params }, context);
    if (mine === generation) shown = { generation: mine, refresh: live && live.refresh };
  } catch (error) {
    if (mine === generation && error.status !== 401) notice(error.message);
  }
}

async function refresh() {
  if (document.hidden) return;
  retime($("page"));
  if (refreshing || !shown || !shown.refresh) return;
  refreshing = true;
  const mine = shown.generation;
  try {
    await shown.refresh();
    if (mine === generation) notice(null);
  } catch (error) {
    if (mine === generation && error.status !== 401) notice(error.message);
  } finally {
    refreshing = false;
  }
}

async function signIn(event) {
  event.preventDefault();
  const secret = $("token").value.trim();
  if (!secret) return;
  const button = event.target.querySelector("button");
  button.disabled = true;
  try {
    const who = await call("GET", "/whoami", { secret });
    keepToken(secret);
    $("token").value = "";
    showSignedIn(who);
    if (!location.hash || location.hash === "#" || location.hash === "#/") location.hash = "#/overview";
    else await route();
  } catch (error) {
    showSignIn(error.message);
  } finally {
    button.disabled = false;
  }
}

async function start() {
  onSignedOut((message) => {
    forgetToken();
    showSignIn(message);
  });
  $("sign-in-form").addEventListener("submit", signIn);
  $("sign-out").addEventListener("click", () => {
    forgetToken();
    showSignIn("Signed out.");
  });
  window.addEventListener("hashchange", route);
  setInterval(refresh, REFRESH_MS);
  if (!token()) {
    showSignIn(null);
    return;
  }
  try {
    showSignedIn(await call("GET", "/whoami"));
    await route();
  } catch (error) {
    if (error.status !== 401) showSignIn(error.message);
  }
}

start();
