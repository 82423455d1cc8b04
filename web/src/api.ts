// Requests to the Sluice HTTP API: JSON in and out, the bearer token when the server needs one, and errors turned
// into ApiError (with the server's code) and into banner problems when the server fails or cannot be reached.
import type { ErrorBody } from '../../src/http/api.ts';
import { clearProblem, reportProblem } from './problems.ts';

const TOKEN_KEY = 'sluice.token';

export class ApiError extends Error {
  readonly status: number;
  readonly code: string;
  constructor(status: number, code: string, message: string) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

/**
 * The token: given once in the address as `#token=...` (a fragment is never sent to the server or logged), then
 * kept for this browser tab in sessionStorage.
 */
export function token(): string | null {
  try {
    return sessionStorage.getItem(TOKEN_KEY);
  } catch {
    return null;
  }
}

export function setToken(value: string | null): void {
  try {
    if (value) sessionStorage.setItem(TOKEN_KEY, value);
    else sessionStorage.removeItem(TOKEN_KEY);
  } catch {
    // storage disabled: the token lasts until the page reloads
  }
}

/** Moves `#token=...` from the address into storage, so that it does not stay visible or in the history. */
export function takeTokenFromAddress(): void {
  const match = /(?:^#|&)token=([^&]+)/.exec(location.hash);
  if (!match) return;
  setToken(decodeURIComponent(match[1]!));
  history.replaceState(history.state, '', location.pathname + location.search);
}

export function authHeaders(): Record<string, string> {
  const t = token();
  return t ? { Authorization: `Bearer ${t}` } : {};
}

/** Reads a failed response's `{error: {code, message}}` (or its text) into an ApiError. */
export async function errorOf(response: Response): Promise<ApiError> {
  const text = await response.text().catch(() => '');
  try {
    const body = JSON.parse(text) as ErrorBody;
    if (body?.error?.message) return new ApiError(response.status, body.error.code, body.error.message);
  } catch {
    // not JSON: a proxy's page, a crash
  }
  return new ApiError(response.status, 'HTTP_ERROR', text.trim().slice(0, 300) || response.statusText);
}

/** Shows what went wrong in the banner: the token form for 401, a server error for 5xx, unreachable otherwise. */
export function reportFailure(source: string, error: unknown): void {
  if (error instanceof ApiError) {
    if (error.status === 401) {
      reportProblem('auth', {
        kind: 'auth',
        title: 'This server needs a token',
        detail: token() ? 'The token given was refused.' : 'Enter the token the server was started with.',
      });
    } else if (error.status >= 500 && error.code !== 'DEPLOYMENT_STARTING') {
      // (A deployment that is still starting answers 503 until it runs: its page says so, it is no failure.)
      reportProblem(source, {
        kind: 'server',
        title: `The server failed (HTTP ${error.status}${error.code !== 'HTTP_ERROR' ? ` ${error.code}` : ''})`,
        detail: error.message,
      });
    }
    return;
  }
  reportProblem(source, {
    kind: 'unreachable',
    title: 'Cannot reach the Sluice server',
    detail: `${location.origin} does not answer (${(error as Error).message}). Retrying…`,
  });
}

async function request<T>(path: string, init: RequestInit): Promise<T> {
  const source = path.split('?')[0]!;
  let response: Response;
  try {
    response = await fetch(path, { ...init, headers: { ...authHeaders(), ...init.headers }, cache: 'no-store' });
  } catch (error) {
    reportFailure(source, error);
    throw error;
  }
  if (!response.ok) {
    const error = await errorOf(response);
    reportFailure(source, error);
    throw error;
  }
  clearProblem(source);
  if (response.status !== 401) clearProblem('auth');
  return (await response.json()) as T;
}

export function getJson<T>(path: string): Promise<T> {
  return request<T>(path, { method: 'GET' });
}

export function postJson<T>(path: string, body: unknown): Promise<T> {
  return request<T>(path, {
    method: 'POST',
    body: JSON.stringify(body),
    headers: { 'Content-Type': 'application/json' },
  });
}
