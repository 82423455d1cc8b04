// Imports a user's file (a pipeline, a deployment spec) the one way every runner does — `sluice run`, its task
// threads and members, `sluice up` and its workers — and turns what Node throws into one line a person can act on:
// file:line:column of a syntax or type-strip error (in the file or in one it imports), how to install a missing
// package, what a missing relative import should be.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { type ErrorCode, SluiceError } from '../errors.ts';

export interface SourceLocation {
  /** An absolute path. */
  file: string;
  line: number;
  column?: number;
}

export interface LoadFileOptions {
  /** The error code for a file that cannot be loaded (INVALID_PIPELINE, INVALID_SPEC): exit code 2 in the CLI. */
  code: ErrorCode;
  /** What the file is, for messages ("pipeline", "deployment spec"). */
  what: string;
}

/**
 * Imports `file` (a path or a file: URL). Failures are SluiceErrors with `details.phase` 'load': `options.code` for
 * a file that is missing or does not compile or resolve, the code of a SluiceError its top-level code threw.
 */
export async function importUserFile(file: string, options: LoadFileOptions): Promise<Record<string, unknown>> {
  const absolute = file.startsWith('file:') ? fileURLToPath(file) : path.resolve(file);
  const shown = displayPath(absolute);
  let stat: fs.Stats;
  try {
    stat = fs.statSync(absolute);
  } catch {
    throw new SluiceError(options.code, `cannot load ${shown}: no such file (looked for ${absolute})`, {
      file: absolute,
      phase: 'load',
    });
  }
  if (stat.isDirectory()) {
    throw new SluiceError(options.code, `cannot load ${shown}: it is a directory; name the ${options.what} file`, {
      file: absolute,
      phase: 'load',
    });
  }
  const url = pathToFileURL(absolute).href;
  try {
    return (await import(url)) as Record<string, unknown>;
  } catch (error) {
    throw await explainLoadError(error, absolute, options);
  }
}

/** A load failure as the SluiceError the CLI prints: where it is, what it is, and how to fix it when we know. */
export async function explainLoadError(error: unknown, entry: string, options: LoadFileOptions): Promise<SluiceError> {
  const shown = displayPath(entry);
  const details = { file: entry, phase: 'load' };
  if (!(error instanceof Error)) {
    return new SluiceError(options.code, `cannot load ${shown}: ${String(error)}`, details, { cause: error });
  }
  const nodeCode = (error as NodeJS.ErrnoException).code;
  if (nodeCode === 'ERR_MODULE_NOT_FOUND') {
    return new SluiceError(options.code, `cannot load ${shown}: ${missingModule(error.message)}`, details, {
      cause: error,
    });
  }
  if (nodeCode === 'ERR_UNKNOWN_FILE_EXTENSION') {
    return new SluiceError(
      options.code,
      `cannot load ${shown}: ${options.what} files are JavaScript or TypeScript modules (.ts, .mts, .js, .mjs)`,
      details,
      { cause: error },
    );
  }
  // A SyntaxError the file's code threw as it ran (JSON.parse) has the file in its stack; one from compiling it not.
  const header = error instanceof SyntaxError ? headerLocation(error.stack ?? '') : undefined;
  if (error instanceof SyntaxError && (header !== undefined || userFrame(error.stack ?? '') === undefined)) {
    const at = header ?? (await compileLocation(entry, error));
    const hint = nodeCode === 'ERR_UNSUPPORTED_TYPESCRIPT_SYNTAX' ? stripHint(error.message) : '';
    // Node's messages of type-strip errors say what they are; V8's syntax errors say only what went wrong.
    const name = nodeCode?.endsWith('_TYPESCRIPT_SYNTAX') ? '' : 'SyntaxError: ';
    if (at === undefined) {
      return new SluiceError(
        options.code,
        `cannot load ${shown}: ${name}${error.message}${hint} (in ${shown} or a file it imports)`,
        details,
        { cause: error },
      );
    }
    const elsewhere = at.file === entry ? '' : ` (imported by ${options.what} ${shown})`;
    return new SluiceError(
      options.code,
      `${formatLocation(at)}: ${name}${error.message}${hint}${elsewhere}`,
      { ...details, at: { ...at } },
      { cause: error },
    );
  }
  // The file's own top-level code threw: a Sluice error keeps its code (BROKER_UNAVAILABLE from an ensureTopic...).
  const at = userFrame(error.stack ?? '');
  const code = error instanceof SluiceError ? error.code : options.code;
  return new SluiceError(
    code,
    `cannot load ${shown}: ${describeThrown(error)}${at ? ` (at ${formatLocation(at)})` : ''}`,
    { ...details, ...(at ? { at: { ...at } } : {}) },
    { cause: error },
  );
}

/** What to write instead of TypeScript that Node's type stripping refuses (it only erases types). */
function stripHint(message: string): string {
  const instead = /\benum\b/.test(message)
    ? 'a union of string literals or a const object instead of an enum'
    : /parameter propert/.test(message)
      ? 'a field declared in the class and assigned in the constructor instead of a parameter property'
      : /namespace|module/.test(message)
        ? 'ES modules instead of namespaces'
        : 'plain JavaScript with type annotations';
  return ` (Node runs TypeScript by erasing the types only: write ${instead})`;
}

/** `my.ts:3:7` (relative to the working directory when it is inside it). */
export function formatLocation(at: SourceLocation): string {
  return `${displayPath(at.file)}:${at.line}${at.column === undefined ? '' : `:${at.column}`}`;
}

/** A path as a person in the working directory would type it. */
export function displayPath(file: string): string {
  const relative = path.relative(process.cwd(), file);
  return relative === '' || relative.startsWith('..') || path.isAbsolute(relative) ? file : relative;
}

/** `Error: message` for an error's own kind, the bare message for a plain Error or a Sluice error (it has its code). */
export function describeThrown(error: unknown): string {
  if (!(error instanceof Error)) return String(error);
  return error.name === 'Error' || error instanceof SluiceError ? error.message : `${error.name}: ${error.message}`;
}

/**
 * The location Node writes at the top of a load error's stack: `/x/my.ts:3` or `file:///x/my.ts:3`, then the
 * source line(s), then a caret line under the culprit (type-strip errors, link errors such as a missing export).
 */
export function headerLocation(stack: string): SourceLocation | undefined {
  const lines = stack.split('\n');
  const header = /^(file:\/\/\S+|\/.*|[A-Za-z]:\\.*):(\d+)$/.exec(lines[0] ?? '');
  if (!header) return undefined;
  const file = header[1]!.startsWith('file:') ? safeFileURLToPath(header[1]!) : header[1]!;
  if (file === undefined) return undefined;
  const line = Number(header[2]);
  // Context lines may surround the offending one; the caret line sits right under it, before the error's name.
  const end = lines.findIndex((l, i) => i > 0 && /^\w*Error\b/.test(l));
  const caret = lines.slice(1, end === -1 ? undefined : end).find((l) => /^\s*\^+\s*$/.test(l));
  return { file, line, ...(caret === undefined ? {} : { column: caret.indexOf('^') + 1 }) };
}

/**
 * The first frame of a stack that is the user's code: not Node's, not a package's under node_modules, not Sluice's
 * own sources (the frames of a definition that threw through a Sluice API).
 */
export function userFrame(stack: string): SourceLocation | undefined {
  const sluiceSources = fileURLToPath(new URL('../', import.meta.url));
  for (const line of stack.split('\n')) {
    const frame = /^\s+at (?:.*? \(|async )?(file:\/\/[^)]+?|\/[^)]+?):(\d+):(\d+)\)?$/.exec(line);
    if (!frame) continue;
    const file = frame[1]!.startsWith('file:') ? safeFileURLToPath(frame[1]!) : frame[1]!;
    if (file === undefined || file.includes(`${path.sep}node_modules${path.sep}`) || file.startsWith(sluiceSources)) {
      continue;
    }
    return { file, line: Number(frame[2]), column: Number(frame[3]) };
  }
  return undefined;
}

/**
 * V8 keeps the location of a syntax error found while compiling an ES module to itself (Node prints it only for an
 * uncaught error). Importing the file again in a child process, with a second import that can never link, makes
 * Node print it without running any of the file's code: compile errors come before linking, linking before running.
 */
async function compileLocation(entry: string, error: SyntaxError): Promise<SourceLocation | undefined> {
  const source =
    `import ${JSON.stringify(pathToFileURL(entry).href)};\n` +
    `import { sluiceNeverExported } from 'data:text/javascript,';`;
  const stderr = await new Promise<string>((resolve) => {
    let output = '';
    const child = spawn(process.execPath, [...loaderFlags(process.execArgv), '--input-type=module', '-e', source], {
      stdio: ['ignore', 'ignore', 'pipe'],
      timeout: 15_000,
    });
    child.stderr.setEncoding('utf8');
    child.stderr.on('data', (chunk: string) => {
      if (output.length < 64_000) output += chunk;
    });
    child.on('error', () => resolve(''));
    child.on('close', () => resolve(output));
  });
  // The same error, or it is not this one that the child ran into (a file that changed, another import failing).
  if (!stderr.includes(`SyntaxError: ${error.message}`)) return undefined;
  const at = headerLocation(stderr.slice(stderr.search(/^(file:\/\/|\/|[A-Za-z]:\\)/m)));
  return at && path.basename(at.file) !== '[eval1]' ? at : undefined;
}

/** The flags of this process that change how modules resolve and load (conditions, loaders), for the child. */
function loaderFlags(execArgv: readonly string[]): string[] {
  const kept: string[] = [];
  for (let i = 0; i < execArgv.length; i++) {
    const arg = execArgv[i]!;
    const name = arg.split('=')[0]!;
    if (!['-C', '--conditions', '--import', '--require', '-r', '--loader', '--experimental-loader'].includes(name)) {
      if (/^--(no-)?experimental-/.test(arg)) kept.push(arg);
      continue;
    }
    kept.push(arg);
    if (!arg.includes('=') && i + 1 < execArgv.length) kept.push(execArgv[++i]!);
  }
  return kept;
}

/** ERR_MODULE_NOT_FOUND said plainly: the package to install and where, or the file that is not there. */
function missingModule(message: string): string {
  const pkg = /^Cannot find package '([^']+)' imported from (.+)$/.exec(message);
  if (pkg) {
    const [, name, from] = pkg;
    const importer = from!.startsWith('file:') ? (safeFileURLToPath(from!) ?? from!) : from!;
    const project = projectDir(path.dirname(importer));
    const install = name!.startsWith('@') ? name!.split('/').slice(0, 2).join('/') : name!.split('/')[0]!;
    const dir = project ?? path.dirname(importer);
    const where = dir === process.cwd() ? ' here' : ` in ${dir}`;
    return (
      `${displayPath(importer)} imports '${name}', which is not installed: run \`npm install ${install}\`${where}` +
      (install === 'sluice' ? ' (the project that holds your pipelines needs sluice as a dependency)' : '')
    );
  }
  const module = /^Cannot find module '([^']+)' imported from (.+)$/.exec(message);
  if (module) {
    const [, target, from] = module;
    const missing = target!.startsWith('file:') ? (safeFileURLToPath(target!) ?? target!) : target!;
    const importer = from!.startsWith('file:') ? (safeFileURLToPath(from!) ?? from!) : from!;
    const asTs = missing.replace(/\.(m?)js$/, '.$1ts');
    const hint =
      asTs !== missing && fs.existsSync(asTs)
        ? `; Node runs TypeScript files as they are named: import '${relativeImport(importer, asTs)}'`
        : '';
    return `${displayPath(importer)} imports ${displayPath(missing)}, which does not exist${hint}`;
  }
  return message;
}

function relativeImport(importer: string, target: string): string {
  const relative = path.relative(path.dirname(importer), target).split(path.sep).join('/');
  return relative.startsWith('.') ? relative : `./${relative}`;
}

/** The nearest folder at or above `dir` with a package.json. */
function projectDir(dir: string): string | undefined {
  for (let at = dir; ; at = path.dirname(at)) {
    if (fs.existsSync(path.join(at, 'package.json'))) return at;
    if (path.dirname(at) === at) return undefined;
  }
}

function safeFileURLToPath(url: string): string | undefined {
  try {
    return fileURLToPath(url);
  } catch {
    return undefined;
  }
}
