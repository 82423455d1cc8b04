// Hooks shared by the pages: the live stream, a container's width, a clock for "3 s ago", and loading JSON.
import type { RefObject } from 'preact';
import { useEffect, useRef, useState } from 'preact/hooks';
import type { ApiError } from './api.ts';
import { getJson } from './api.ts';
import { openStream, type StreamState } from './stream.ts';

/**
 * Keeps one stream open for `query` (none when null), reopened when the query changes; events go to the latest
 * `onEvent` without reopening.
 */
export function useStream(
  query: string | null,
  onEvent: (event: string, data: unknown) => void,
): { state: StreamState | 'closed'; error: ApiError | undefined } {
  const handler = useRef(onEvent);
  handler.current = onEvent;
  const [state, setState] = useState<{ state: StreamState | 'closed'; error: ApiError | undefined }>({
    state: 'closed',
    error: undefined,
  });
  useEffect(() => {
    if (query === null) return;
    return openStream({
      query,
      onEvent: (event, data) => handler.current(event, data),
      onState: (next, error) => setState({ state: next, error }),
    });
  }, [query]);
  return state;
}

/** The element's content width, followed as it resizes. */
export function useWidth<T extends HTMLElement>(): [RefObject<T | null>, number] {
  const ref = useRef<T>(null);
  const [width, setWidth] = useState(0);
  useEffect(() => {
    const element = ref.current;
    if (!element) return;
    setWidth(element.clientWidth);
    const observer = new ResizeObserver(() => setWidth(element.clientWidth));
    observer.observe(element);
    return () => observer.disconnect();
  }, []);
  return [ref, width];
}

/** Re-renders every `ms` (for relative times). */
export function useNow(ms = 1000): number {
  const [now, setNow] = useState(Date.now);
  useEffect(() => {
    const timer = setInterval(() => setNow(Date.now()), ms);
    return () => clearInterval(timer);
  }, [ms]);
  return now;
}

/** Loads `path` once per change of `path` (and of `reload`); errors also go to the banner. */
export function useJson<T>(
  path: string | null,
  reload: unknown = 0,
): { data: T | undefined; error: Error | undefined; loading: boolean } {
  const [state, setState] = useState<{ data: T | undefined; error: Error | undefined; loading: boolean }>({
    data: undefined,
    error: undefined,
    loading: path !== null,
  });
  useEffect(() => {
    if (path === null) return;
    let live = true;
    setState((s) => ({ ...s, loading: true }));
    getJson<T>(path).then(
      (data) => live && setState({ data, error: undefined, loading: false }),
      (error: Error) => live && setState((s) => ({ data: s.data, error, loading: false })),
    );
    return () => {
      live = false;
    };
  }, [path, reload]);
  return state;
}

/** A ring buffer in state: appends and keeps the last `keep`. */
export function pushLimited<T>(list: T[], item: T, keep: number): T[] {
  const next = list.length >= keep ? list.slice(list.length - keep + 1) : list.slice();
  next.push(item);
  return next;
}
