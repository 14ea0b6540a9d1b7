// The admin API, called with the API token the operator signed in with.
//
// The token lives in sessionStorage: it is gone when the tab closes, and other sites
// cannot read it. Every call sends it as "Authorization: Bearer"; an answer of 401 (the
// token was revoked, or the relay forgot it) signs the operator out with the API's message.

const BASE = "/api/v1";
const TOKEN_KEY = "hatchway.api-token";
/** Milliseconds a call may take before it is abandoned. */
const TIMEOUT_MS = 15000;

export class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

let signedOut = () => {};

/** Called with the API's message when a call is answered 401. */
export function onSignedOut(handler) {
  signedOut = handler;
}

export function token() {
  return sessionStorage.getItem(TOKEN_KEY);
}

export function keepToken(value) {
  sessionStorage.setItem(TOKEN_KEY, value);
}

export function forgetToken() {
  sessionStorage.removeItem(TOKEN_KEY);
}

/** Call the API; the parsed JSON answer (null for 204). Throws ApiError. */
export async function call(method, path, { query, body, secret } = {}) {
  const params = new URLSearchParams();
  for (const [name, value] of Object.entries(query || {})) {
    if (value !== null && value !== undefined && value !== "") params.set(name, value);
  }
  const text = params.toString();
  const url = BASE + path + (text ? "?" + text : "");
  const headers = { Accept: "application/json", Authorization: `Bearer ${secret ?? token() ?? ""}` };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  let response;
  try {
    response = await fetch(url, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      cache: "no-store",
      credentials: "omit",
      signal: AbortSignal.timeout(TIMEOUT_MS),
    });
  } catch (error) {
    const why = error.name === "TimeoutError" ? `no answer within ${TIMEOUT_MS / 1000} s` : error.message;
    throw new ApiError(0, "unreachable", `the relay cannot be reached: ${why}`);
  }
  if (response.status === 204) return null;
  let data = null;
  try {
    data = await response.json();
  } catch {
    if (response.ok) throw new ApiError(response.status, "bad_answer", "the relay's answer is not JSON");
  }
  if (!response.ok) {
    const error = data && data.error ? data.error : {};
    const failure = new ApiError(
      response.status,
      error.code || "http_" + response.status,
      error.message || `the relay answered ${response.status} ${response.statusText}`,
    );
    if (response.status === 401 && secret === undefined) signedOut(failure.message);
    throw failure;
  }
  return data;
}

export const get = (path, query) => call("GET", path, { query });
export const post = (path, body) => call("POST", path, { body: body ?? {} });

/** The path of one job's resource: /jobs/NAME/... with the name encoded. */
export function jobPath(name, ...rest) {
  return ["/jobs", encodeURIComponent(name), ...rest].join("/");
}

/** What the refusal of an action says to the operator: a viewer token is named as such. */
export function refusal(action, error) {
  if (error instanceof ApiError && error.status === 403) return `viewer token: ${action} needs an admin token`;
  return `${action} failed: ${error.message}`;
}
