// A typed call protocol over a port (ports.ts). One table declares every operation with its argument and result
// types — `topics: op<[], TopicInfo[]>()` — and both ends are typed from it: the client's `call('topics')` resolves
// to a TopicInfo[], and the server must give a handler per operation taking exactly those arguments. A wrong
// argument on either end does not compile; an operation the table does not have is refused at run time.
import { errorFromWire, isSluiceError, SluiceError } from '../../errors.ts';
import type { Port } from './ports.ts';

/** An operation's argument and result types (the object itself carries nothing: the table is for the compiler). */
export interface Operation<Args extends unknown[], Result> {
  readonly args?: Args;
  readonly result?: Result;
}

/** Declares an operation of a table: `op<[topic: string, partition: number], number>()`. */
export function op<Args extends unknown[], Result>(): Operation<Args, Result> {
  return {};
}

export type OperationTable = Record<string, Operation<unknown[], unknown>>;
export type ArgsOf<T extends OperationTable, K extends keyof T> =
  T[K] extends Operation<infer Args, unknown> ? Args : never;
export type ResultOf<T extends OperationTable, K extends keyof T> =
  T[K] extends Operation<unknown[], infer Result> ? Result : never;

/** A reply whose buffers move to the caller rather than being copied (a thread's port only). */
export class Moving<T> {
  readonly value: T;
  readonly transfer: ArrayBuffer[];
  constructor(value: T, transfer: ArrayBuffer[]) {
    this.value = value;
    this.transfer = transfer;
  }
}

/** The server's side of a table: one handler per operation, taking its arguments and giving its result. */
export type Handlers<T extends OperationTable> = {
  [K in keyof T]: (...args: ArgsOf<T, K>) => Answer<ResultOf<T, K>> | Promise<Answer<ResultOf<T, K>>>;
};
type Answer<R> = R | Moving<R>;

/** An error as it crosses a port: its stable code, message and details. */
export interface WireError {
  code: string;
  message: string;
  details: Record<string, unknown>;
}

/** A call as it crosses the port; `kind` is the channel's name. */
export interface CallMessage {
  kind: string;
  id: number;
  op: string;
  args: unknown[];
}

interface ReplyMessage {
  kind: string;
  id: number;
  value?: unknown;
  error?: WireError;
}

export function wireError(error: unknown): WireError {
  return isSluiceError(error)
    ? { code: error.code, message: error.message, details: { ...error.details } }
    : { code: 'INTERNAL', message: (error as Error)?.message ?? String(error), details: {} };
}

export function fromWireError(error: WireError): SluiceError {
  return errorFromWire(error);
}

export interface RpcServer {
  /** Resolves once every call made so far has been answered. */
  drain(): Promise<void>;
  /** Stops answering. */
  close(): void;
}

/** Answers the calls of channel `channel` that arrive on `port` with `handlers`, one per operation of `table`. */
export function serveRpc<T extends OperationTable>(
  port: Port,
  channel: string,
  table: T,
  handlers: Handlers<T>,
): RpcServer {
  const replyKind = `${channel}-reply`;
  const pending = new Set<Promise<unknown>>();
  const answer = async (message: CallMessage): Promise<unknown> => {
    if (typeof message.op !== 'string' || !Object.hasOwn(table, message.op) || !Array.isArray(message.args)) {
      throw new SluiceError('INVALID_REQUEST', `unknown ${channel} operation "${String(message.op)}"`);
    }
    return (handlers[message.op] as (...args: unknown[]) => unknown)(...message.args);
  };
  const stopListening = port.listen((received) => {
    const message = received as CallMessage | null;
    if (message?.kind !== channel) return;
    const { id } = message;
    const call = answer(message).then(
      (value) =>
        value instanceof Moving
          ? port.post({ kind: replyKind, id, value: value.value } satisfies ReplyMessage, value.transfer)
          : port.post({ kind: replyKind, id, value } satisfies ReplyMessage),
      (error: unknown) => port.post({ kind: replyKind, id, error: wireError(error) } satisfies ReplyMessage),
    );
    pending.add(call);
    call.finally(() => pending.delete(call));
  });
  return {
    async drain() {
      while (pending.size > 0) await Promise.allSettled([...pending]);
    },
    close: stopListening,
  };
}

export interface RpcClientOptions {
  /** The error message of a call made once the other end is gone, and of calls it left unanswered. */
  closed?: string;
  gone?: string;
}

/** The calling side of a table over `port`. */
export class RpcClient<T extends OperationTable> {
  private readonly calls = new Map<number, { resolve: (value: unknown) => void; reject: (error: Error) => void }>();
  private readonly port: Port;
  private readonly channel: string;
  private readonly options: RpcClientOptions;
  private nextId = 0;
  private closed = false;

  constructor(port: Port, channel: string, options: RpcClientOptions = {}) {
    this.port = port;
    this.channel = channel;
    this.options = options;
    const replyKind = `${channel}-reply`;
    port.listen((received) => {
      const message = received as ReplyMessage | null;
      if (message?.kind !== replyKind) return;
      const call = this.calls.get(message.id);
      if (!call) return;
      this.calls.delete(message.id);
      if (message.error) call.reject(fromWireError(message.error));
      else call.resolve(message.value);
    });
    port.onClose(() => {
      this.closed = true;
      const gone = new SluiceError('LOG_CLOSED', options.gone ?? `the other end of the ${channel} channel is gone`);
      for (const call of this.calls.values()) call.reject(gone);
      this.calls.clear();
    });
  }

  /** Whether calls can still be made. */
  get open(): boolean {
    return !this.closed && this.port.open;
  }

  call<K extends keyof T & string>(op: K, ...args: ArgsOf<T, K>): Promise<ResultOf<T, K>> {
    return this.callMoving(op, [], ...args);
  }

  /** A call whose `transfer` buffers move to the other end rather than being copied (a thread's port only). */
  callMoving<K extends keyof T & string>(
    op: K,
    transfer: ArrayBuffer[],
    ...args: ArgsOf<T, K>
  ): Promise<ResultOf<T, K>> {
    if (!this.open) {
      return Promise.reject(
        new SluiceError('LOG_CLOSED', this.options.closed ?? `the ${this.channel} channel is closed`),
      );
    }
    const id = ++this.nextId;
    return new Promise<ResultOf<T, K>>((resolve, reject) => {
      this.calls.set(id, { resolve: resolve as (value: unknown) => void, reject });
      const message = { kind: this.channel, id, op, args } satisfies CallMessage;
      if (transfer.length > 0) this.port.post(message, transfer);
      else this.port.post(message);
    });
  }
}
