// The base of every error Sluice throws on purpose: a stable machine-readable `code` that the CLI, the HTTP API
// and the Kafka protocol map to exit codes, statuses and Kafka error codes, plus a message a person can act on.

export class SluiceError<Code extends string = string> extends Error {
  readonly code: Code;
  /** Extra machine-readable facts (topic, partition, offset, line number...) for logs and HTTP bodies. */
  readonly details: Readonly<Record<string, unknown>>;

  constructor(code: Code, message: string, details: Record<string, unknown> = {}, options?: ErrorOptions) {
    super(message, options);
    this.name = 'SluiceError';
    this.code = code;
    this.details = details;
  }

  toJSON(): { code: Code; message: string; details: Readonly<Record<string, unknown>> } {
    return { code: this.code, message: this.message, details: this.details };
  }
}

export function isSluiceError(error: unknown, code?: string): error is SluiceError {
  return error instanceof SluiceError && (code === undefined || error.code === code);
}
