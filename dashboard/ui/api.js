// Talking to the control plane's API (/api/v1) with the user's bearer
// token, if one was given, and turning its errors (RFC 9457 problems, or
// Prometheus's {"status":"error"} envelope for PromQL) into exceptions.

const TOKEN_KEY = 'cloudskin.token';

// Unauthorized is thrown for a 401: the page then asks for a token.
export class Unauthorized extends Error {}

// APIError is any other answer that is not 2xx; status is the HTTP code.
export class APIError extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

export function token() {
  try {
    return localStorage.getItem(TOKEN_KEY) ?? '';
  } catch {
    return ''; // storage disabled: the token then lives for one request only
  }
}

export function setToken(t) {
  try {
    if (t) localStorage.setItem(TOKEN_KEY, t);
    else localStorage.removeItem(TOKEN_KEY);
  } catch {
    // storage disabled: nothing to keep
  }
}

// getJSON fetches path (a URL of this origin) and decodes its JSON answer.
export async function getJSON(path, timeoutMs = 10000) {
  const headers = { Accept: 'application/json' };
  const t = token();
  if (t) headers.Authorization = 'Bearer ' + t;
  let resp;
  try {
    resp = await fetch(path, { headers, cache: 'no-store', signal: AbortSignal.timeout(timeoutMs) });
  } catch (err) {
    throw new APIError(0, `cannot reach the control plane (${err.name === 'TimeoutError' ? 'no answer within ' + timeoutMs / 1000 + ' s' : err.message})`);
  }
  if (resp.status === 401) {
    throw new Unauthorized(t ? 'the token was refused' : 'a token is needed');
  }
  if (!resp.ok) {
    throw new APIError(resp.status, await problemText(resp));
  }
  return resp.json();
}

// problemText is the sentence an error answer carries: a problem's detail,
// a PromQL error, or the start of whatever text came back.
async function problemText(resp) {
  const body = await resp.text().catch(() => '');
  try {
    const p = JSON.parse(body);
    const msg = p.detail ?? p.error;
    if (msg) return `${msg} (${resp.status})`;
  } catch {
    // not JSON
  }
  const text = body.trim().slice(0, 200);
  return `${resp.status} ${resp.statusText}${text ? ': ' + text : ''}`;
}
