// What is wrong right now, for the banner: failed requests and streams by source. A source that succeeds again
// clears its problem, so the banner shows only what is still broken.

export interface Problem {
  /** Unauthorised (the token form), a server error, or the server could not be reached at all. */
  kind: 'auth' | 'server' | 'unreachable';
  title: string;
  detail: string;
}

type Listener = (problems: Map<string, Problem>) => void;

const current = new Map<string, Problem>();
const listeners = new Set<Listener>();

function notify(): void {
  const copy = new Map(current);
  for (const listener of listeners) listener(copy);
}

export function reportProblem(source: string, problem: Problem): void {
  const before = current.get(source);
  if (before && before.title === problem.title && before.detail === problem.detail) return;
  current.set(source, problem);
  notify();
}

export function clearProblem(source: string): void {
  if (current.delete(source)) notify();
}

export function onProblems(listener: Listener): () => void {
  listeners.add(listener);
  listener(new Map(current));
  return () => listeners.delete(listener);
}
