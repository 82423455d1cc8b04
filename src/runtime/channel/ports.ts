// The two transports between a host and a pipeline running elsewhere, behind one small interface: a worker process's
// IPC channel (messages are cloned) and a worker thread's message port (buffers can move instead of being copied).
// The log channel and the worker protocol both speak over them.
import type { ChildProcess } from 'node:child_process';
import type { MessagePort, Worker } from 'node:worker_threads';

/** One end of the channel between the log's owner (a host) and a worker: what the two transports have in common. */
export interface Port {
  /** Sends `message`; a thread's port moves the `transfer` buffers instead of copying them. */
  post(message: object, transfer?: ArrayBuffer[]): void;
  /** Adds a listener for every message; the returned function removes it. */
  listen(listener: (message: unknown) => void): () => void;
  /** Runs once the other end is gone. */
  onClose(listener: () => void): void;
  readonly open: boolean;
  /** Whether `post` can move buffers (a thread's port); IPC serializes them anyway. */
  readonly transfers: boolean;
}

/** The log channel's name for a port (what its tests and callers have always called it). */
export type LogPort = Port;

/** The owner's end of a worker process's IPC channel. */
export function childProcessPort(child: ChildProcess): Port {
  return {
    post: (message) => {
      if (child.connected) child.send(message, (error) => error && undefined);
    },
    listen: (listener) => {
      child.on('message', listener);
      return () => child.off('message', listener);
    },
    onClose: (listener) => child.once('disconnect', listener),
    get open() {
      return child.connected;
    },
    transfers: false,
  };
}

/** A worker process's end: its parent over IPC. */
export function parentProcessPort(): Port {
  let open = process.connected;
  process.once('disconnect', () => {
    open = false;
  });
  return {
    post: (message) => {
      if (process.connected) process.send?.(message);
    },
    listen: (listener) => {
      process.on('message', listener);
      return () => process.off('message', listener);
    },
    onClose: (listener) => process.once('disconnect', listener),
    get open() {
      return open && process.send !== undefined;
    },
    transfers: false,
  };
}

/** Either end of a worker thread's channel: the Worker object (owner) or the thread's parentPort (worker). */
export function threadPort(port: Worker | MessagePort): Port {
  let open = true;
  const closed = () => {
    open = false;
  };
  // A Worker says 'exit' when its thread ends; a port says 'close' when the other end is closed.
  port.once('exit', closed);
  port.once('close', closed);
  return {
    post: (message, transfer) => {
      if (open) port.postMessage(message, transfer);
    },
    listen: (listener) => {
      port.on('message', listener);
      return () => port.off('message', listener);
    },
    onClose: (listener) => {
      port.once('exit', listener);
      port.once('close', listener);
    },
    get open() {
      return open;
    },
    transfers: true,
  };
}
