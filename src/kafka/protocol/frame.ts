// Request and response headers, and the table of APIs we serve. Sans-IO: bytes in, typed values out.
import * as data from './apis-data.ts';
import * as group from './apis-group.ts';
import { ProtocolError, Reader, Writer } from './primitives.ts';
import { type ApiSpec, decodeStruct, encodeStruct, type Message } from './schema.ts';

export const APIS: ReadonlyMap<number, ApiSpec> = new Map(
  [...Object.values(data), ...Object.values(group)].map((spec) => [spec.apiKey, spec]),
);

export interface RequestHeader {
  apiKey: number;
  apiVersion: number;
  correlationId: number;
  clientId: string | null;
}

export interface DecodedRequest {
  header: RequestHeader;
  api: ApiSpec;
  body: Message;
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

/** Decodes a whole request frame (without its size prefix). */
export function decodeRequest(frame: Buffer): DecodedRequest {
  const r = new Reader(frame);
  const header: RequestHeader = { apiKey: r.int16(), apiVersion: r.int16(), correlationId: r.int32(), clientId: null };
  const api = APIS.get(header.apiKey);
  if (api === undefined) throw new UnsupportedVersionError(header, `unknown API key ${header.apiKey}`);
  if (header.apiVersion < api.minVersion || header.apiVersion > api.maxVersion) {
    throw new UnsupportedVersionError(
      header,
      `${api.name} v${header.apiVersion} is not supported (v${api.minVersion}-v${api.maxVersion})`,
    );
  }
  // The client id is a classic nullable string even in flexible request headers (v2).
  header.clientId = r.string(false);
  const flexible = header.apiVersion >= api.flexibleFrom;
  if (flexible) r.skipTaggedFields();
  const body = decodeStruct(api.request, r, header.apiVersion, flexible);
  return { header, api, body };
}

/** Encodes a response frame (with its size prefix) as chunks ready for a vectored write. */
export function encodeResponse(api: ApiSpec, version: number, correlationId: number, body: Message): Buffer[] {
  const w = new Writer();
  w.int32(correlationId);
  const flexible = version >= api.flexibleFrom;
  // ApiVersions responses always use header v0, so that any client can read the supported versions.
  if (flexible && api.apiKey !== 18) w.emptyTaggedFields();
  encodeStruct(api.response, body, w, version, flexible);
  return w.toFrame();
}

/**
 * The answer to an API key or version we do not serve: the correlation id and error code UNSUPPORTED_VERSION (35).
 * We cannot know the layout of a response we do not implement, so this is the common prefix most error responses
 * share (ApiVersions v0 reads exactly this); the connection stays open and the client learns why.
 */
export function encodeUnsupportedVersion(correlationId: number): Buffer[] {
  return new Writer().int32(correlationId).int16(35).toFrame();
}

/** Encodes a request (used by tests and tools that speak to a broker directly). */
export function encodeRequest(
  api: ApiSpec,
  version: number,
  correlationId: number,
  clientId: string | null,
  body: Message,
): Buffer {
  const w = new Writer();
  w.int16(api.apiKey).int16(version).int32(correlationId).string(clientId, false);
  const flexible = version >= api.flexibleFrom;
  if (flexible) w.emptyTaggedFields();
  encodeStruct(api.request, body, w, version, flexible);
  return Buffer.concat(w.toFrame());
}

/** Decodes a response body (tests). */
export function decodeResponse(api: ApiSpec, version: number, frame: Buffer): { correlationId: number; body: Message } {
  const r = new Reader(frame);
  const correlationId = r.int32();
  const flexible = version >= api.flexibleFrom;
  if (flexible && api.apiKey !== 18) r.skipTaggedFields();
  return { correlationId, body: decodeStruct(api.response, r, version, flexible) };
}
