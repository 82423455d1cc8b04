// Request and response headers around the generated message codecs. Sans-IO: bytes in, typed values out.
import { decodeStruct, encodeStruct } from './codec.ts';
import * as generated from './generated/index.ts';
import { ProtocolError, Reader, Writer } from './primitives.ts';
import type { Api, Decoded } from './schema.ts';

/** Every generated API by key, at the versions generate.ts's SERVED lists. */
export const APIS: ReadonlyMap<number, Api> = new Map(
  Object.values(generated)
    .map((api: Api) => [api.apiKey, api] as const)
    .sort((a, b) => a[0] - b[0]),
);

export interface RequestHeader {
  apiKey: number;
  apiVersion: number;
  correlationId: number;
  clientId: string | null;
}

export interface DecodedRequest {
  header: RequestHeader;
  api: Api;
  /** The request decoded with `api`'s schema at `header.apiVersion`: a `Decoded<Req>` of that API. */
  body: unknown;
}

/** Reads just the fixed header fields (enough to answer UNSUPPORTED_VERSION for anything). */
export function peekHeader(frame: Buffer): RequestHeader {
  const r = new Reader(frame);
  const apiKey = r.int16();
  const apiVersion = r.int16();
  const correlationId = r.int32();
  return { apiKey, apiVersion, correlationId, clientId: null };
}

export class UnsupportedVersionError extends ProtocolError {
  readonly header: RequestHeader;
  constructor(header: RequestHeader, reason: string) {
    super(reason);
    this.header = header;
  }
}

/** Decodes a whole request frame (without its size prefix) for one of `apis` (by default every generated API). */
export function decodeRequest(frame: Buffer, apis: ReadonlyMap<number, Api> = APIS): DecodedRequest {
  const r = new Reader(frame);
  const header: RequestHeader = { apiKey: r.int16(), apiVersion: r.int16(), correlationId: r.int32(), clientId: null };
  const api = apis.get(header.apiKey);
  if (api === undefined) throw new UnsupportedVersionError(header, `unknown API key ${header.apiKey}`);
  const plan = api.requestPlans[header.apiVersion];
  if (plan === undefined) {
    throw new UnsupportedVersionError(
      header,
      `${api.name} v${header.apiVersion} is not supported (v${api.minVersion}-v${api.maxVersion})`,
    );
  }
  // The client id is a classic nullable string even in flexible request headers (v2).
  header.clientId = r.string(false);
  if (plan.flexible) r.skipTaggedFields();
  return { header, api, body: decodeStruct(plan, r) };
}

function responsePlan(api: Api, version: number) {
  const plan = api.responsePlans[version];
  if (plan === undefined) throw new ProtocolError(`${api.name} v${version} is not supported`);
  return plan;
}

/** Encodes a response frame (with its size prefix) as chunks ready for a vectored write. */
export function encodeResponse<Res>(
  api: Api<unknown, Res>,
  version: number,
  correlationId: number,
  body: NoInfer<Res>,
): Buffer[] {
  const plan = responsePlan(api, version);
  const w = new Writer();
  w.int32(correlationId);
  // ApiVersions responses always use header v0, so that any client can read the supported versions.
  if (plan.flexible && api.apiKey !== 18) w.emptyTaggedFields();
  encodeStruct(plan, body as Record<string, unknown>, w);
  return w.toFrame();
}

/** Encodes a request frame, with its size prefix (for tests and tools that speak to a broker directly). */
export function encodeRequest<Req>(
  api: Api<Req, unknown>,
  version: number,
  correlationId: number,
  clientId: string | null,
  body: NoInfer<Req>,
): Buffer {
  const plan = api.requestPlans[version];
  if (plan === undefined) throw new ProtocolError(`${api.name} v${version} is not supported`);
  const w = new Writer();
  w.int16(api.apiKey).int16(version).int32(correlationId).string(clientId, false);
  if (plan.flexible) w.emptyTaggedFields();
  encodeStruct(plan, body as Record<string, unknown>, w);
  return Buffer.concat(w.toFrame());
}

/** Decodes a response frame without its size prefix (tests and tools). */
export function decodeResponse<Res>(
  api: Api<unknown, Res>,
  version: number,
  frame: Buffer,
): { correlationId: number; body: Decoded<Res> } {
  const plan = responsePlan(api, version);
  const r = new Reader(frame);
  const correlationId = r.int32();
  if (plan.flexible && api.apiKey !== 18) r.skipTaggedFields();
  return { correlationId, body: decodeStruct(plan, r) as Decoded<Res> };
}
