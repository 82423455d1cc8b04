// The live connection: one Server-Sent Events stream per page (GET /v1/stream), read with fetch so that it can
// carry the Authorization header (EventSource cannot). It reconnects after a drop with a growing delay and reports
// a broken server in the banner until the stream is back.
import { ApiError, authHeaders, errorOf, reportFailure } from './api.ts';
import { clearProblem } from './problems.ts';

export type StreamState = 'connecting' | 'open' | 'retrying' | 'failed';

export interface StreamOptions {
  /** The query string: channels=...&series=... */
  query: string;
  onEvent(event: string, data: unknown): void;
  onState?(state: StreamState, error?: ApiError): void;
}

const SOURCE = 'stream';

/** Opens the stream; returns the close function. */
export function openStream(options: StreamOptions): () => void {
  const stop = new AbortController();
  let delay = 500;
  void (async () => {
    while (!stop.signal.aborted) {
      options.onState?.('connecting');
      try {
        const response = await fetch(`/v1/stream?${options.query}`, {
          headers: { ...authHeaders(), Accept: 'text/event-stream' },
          cache: 'no-store',
          signal: stop.signal,
        });
        if (!response.ok) {
          const error = await errorOf(response);
          reportFailure(SOURCE, error);
          // A request the server refuses (a bad series, 4xx) will be refused again: say so and stop.
          if (error.status < 500 && error.status !== 429) {
            options.onState?.('failed', error);
            return;
          }
          throw error;
        }
        clearProblem(SOURCE);
        clearProblem('auth');
        options.onState?.('open');
        delay = 500;
        await readEvents(response.body!, options.onEvent);
        if (stop.signal.aborted) return;
        throw new Error('the stream ended');
      } catch (error) {
        if (stop.signal.aborted) return;
        if (!(error instanceof ApiError)) reportFailure(SOURCE, error);
        options.onState?.('retrying');
        await wait(delay, stop.signal);
        delay = Math.min(10_000, delay * 2);
      }
    }
  })();
  return () => {
    stop.abort();
    clearProblem(SOURCE);
  };
}

/** Parses `event:` / `data:` blocks separated by blank lines (comments and `retry:` are ignored). */
async function readEvents(body: ReadableStream<Uint8Array>, onEvent: StreamOptions['onEvent']): Promise<void> {
  // (TextDecoderStream's writable side is typed as BufferSource, a superset of what a body yields.)
  const reader = body
    .pipeThrough(new TextDecoderStream() as unknown as ReadableWritablePair<string, Uint8Array>)
    .getReader();
  let buffer = '';
  for (;;) {
    const { done, value } = await reader.read();
    if (done) return;
    buffer += value;
    for (let end = buffer.indexOf('\n\n'); end >= 0; end = buffer.indexOf('\n\n')) {
      const block = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      let event = 'message';
      const data: string[] = [];
      for (const line of block.split('\n')) {
        if (line.startsWith('event:')) event = line.slice(6).trim();
        else if (line.startsWith('data:')) data.push(line.slice(line.startsWith('data: ') ? 6 : 5));
      }
      if (data.length === 0) continue;
      let parsed: unknown;
      try {
        parsed = JSON.parse(data.join('\n'));
      } catch {
        continue;
      }
      onEvent(event, parsed);
    }
  }
}

function wait(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(resolve, ms);
    signal.addEventListener(
      'abort',
      () => {
        clearTimeout(timer);
        resolve();
      },
      { once: true },
    );
  });
}
