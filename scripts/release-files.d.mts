// Types of release-files.mjs (plain JavaScript, run without tsx) for the tests that import it.
/** Why `path` (relative to the package root, `/`-separated) must not ship, or undefined if it may. */
export function notShipped(path: string): string | undefined;
/** Offenders among `paths`, as "path: why" lines. */
export function offenders(paths: string[]): string[];
/** The files of an installed package, relative and `/`-separated, without its node_modules. */
export function listFiles(root: string): string[];
