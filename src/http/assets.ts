// The dashboard's files (web/dist, built by Vite) served at `/`: content types, long caching for content-hashed
// assets and revalidation for index.html, the single-page-app fallback (any other path without a file extension
// gets index.html, so that /topics can be reloaded), and a page that says how to build the dashboard when it is not.
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Context } from 'hono';

/** Where `npm run build:web` writes the dashboard. */
export const DEFAULT_DASHBOARD_DIR = fileURLToPath(new URL('../../web/dist', import.meta.url));

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json; charset=utf-8',
  '.map': 'application/json; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
  '.webp': 'image/webp',
  '.woff2': 'font/woff2',
  '.txt': 'text/plain; charset=utf-8',
};

/**
 * No inline scripts, nothing from other origins: the dashboard's own bundle, its own API. Styles set through the
 * CSSOM (Preact's style props, uPlot) are not affected by style-src.
 */
const CSP = [
  "default-src 'self'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data:",
  "connect-src 'self'",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join('; ');

/** True for paths the dashboard's files answer (everything but the API). */
export function isAssetPath(pathname: string): boolean {
  return !(
    pathname === '/health' ||
    pathname === '/metrics' ||
    pathname === '/v1' ||
    pathname.startsWith('/v1/') ||
    pathname.startsWith('/health/') ||
    pathname.startsWith('/metrics/')
  );
}

/** A hono handler serving `dir` (GET and HEAD); answers 404 for a missing file that has an extension. */
export function serveDashboard(dir: string = DEFAULT_DASHBOARD_DIR) {
  const root = path.resolve(dir);
  return async (c: Context): Promise<Response> => {
    let pathname: string;
    try {
      pathname = decodeURIComponent(new URL(c.req.url).pathname);
    } catch {
      return c.text('bad path', 400);
    }
    if (pathname.includes('\0') || pathname.length > 1024) return c.text('bad path', 400);
    const file = path.resolve(root, `.${path.posix.normalize(pathname)}`);
    if (file !== root && !file.startsWith(root + path.sep)) return c.text('bad path', 400);
    const index = path.join(root, 'index.html');
    if (!fs.existsSync(index)) return notBuilt(c, root);
    let target = file;
    let stat = statFile(target);
    if (!stat) {
      // Client-side routes (/topics, /results/...) get the app; a missing script or image is a plain 404.
      if (path.extname(pathname) !== '') return c.text(`no file ${pathname}`, 404);
      target = index;
      stat = statFile(index);
      if (!stat) return notBuilt(c, root);
    }
    const etag = `W/"${stat.size.toString(16)}-${Math.floor(stat.mtimeMs).toString(16)}"`;
    const immutable = path.relative(root, target).startsWith(`assets${path.sep}`);
    const headers: Record<string, string> = {
      'Content-Type': TYPES[path.extname(target).toLowerCase()] ?? 'application/octet-stream',
      // Vite names assets by content hash: a changed file has a new name, so the old one can be kept forever.
      'Cache-Control': immutable ? 'public, max-age=31536000, immutable' : 'no-cache',
      ETag: etag,
      'X-Content-Type-Options': 'nosniff',
      'Referrer-Policy': 'no-referrer',
    };
    if (target.endsWith('.html')) headers['Content-Security-Policy'] = CSP;
    if (c.req.header('if-none-match') === etag) return new Response(null, { status: 304, headers });
    const body = c.req.method === 'HEAD' ? null : await fs.promises.readFile(target);
    headers['Content-Length'] = String(stat.size);
    return new Response(body, { status: 200, headers });
  };
}

function statFile(file: string): fs.Stats | undefined {
  try {
    const stat = fs.statSync(file);
    return stat.isFile() ? stat : undefined;
  } catch {
    return undefined;
  }
}

function notBuilt(c: Context, root: string): Response {
  c.header('Cache-Control', 'no-store');
  c.header('Content-Security-Policy', CSP);
  return c.html(
    `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>Sluice — dashboard not built</title></head>
<body style="font-family: system-ui, sans-serif; max-width: 40rem; margin: 3rem auto; padding: 0 1rem; line-height: 1.5">
<h1>The dashboard has not been built</h1>
<p>This server found no <code>index.html</code> in <code>${escapeHtml(root)}</code>.</p>
<p>Build it once with <code>npm run build:web</code> (<code>npm start</code> does this for you), then reload.</p>
<p>The HTTP API works without it: <a href="/v1/pipelines">/v1/pipelines</a>, <a href="/v1/tables">/v1/tables</a>,
<a href="/metrics">/metrics</a>.</p>
</body></html>`,
    503,
  );
}

function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (ch) => `&#${ch.charCodeAt(0)};`);
}
