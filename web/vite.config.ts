// Vite builds the dashboard (web/src, Preact + uPlot) into web/dist, which the HTTP server serves at `/`. Every
// asset comes from npm packages and is bundled: the page loads nothing from any other origin.
import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vite';

const root = fileURLToPath(new URL('.', import.meta.url));
/** Where `sluice dev` listens, for `npm run dev:web` (Vite's dev server proxies the API to it). */
const api = process.env.SLUICE_URL ?? 'http://127.0.0.1:8080';

export default defineConfig({
  root,
  base: '/',
  publicDir: 'public',
  oxc: { jsx: { runtime: 'automatic', importSource: 'preact' } },
  build: {
    outDir: process.env.SLUICE_WEB_OUT_DIR ?? 'dist',
    emptyOutDir: true,
    target: 'es2022',
    // Inline nothing: the server's Content-Security-Policy allows only the page's own files.
    assetsInlineLimit: 0,
    modulePreload: { polyfill: false },
    chunkSizeWarningLimit: 300,
  },
  server: {
    proxy: { '/v1': { target: api, changeOrigin: false }, '/health': api, '/metrics': api },
  },
});
