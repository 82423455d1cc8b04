// Entry points of worker threads and child processes, named by their module: `.ts` beside the sources, `.js` in the
// built package (dist/), so that a worker always runs the same build as the code that starts it.

/** The URL of the module `name` (no extension) in the same folder as the module at `base` (its import.meta.url). */
export function siblingModule(base: string, name: string): URL {
  return new URL(`./${name}${base.endsWith('.ts') ? '.ts' : '.js'}`, base);
}
