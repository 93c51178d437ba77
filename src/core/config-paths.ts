import { isAbsolute, resolve } from 'node:path';

/**
 * A path written in the configuration: absolute as written, otherwise relative to the folder of
 * the config file. The one place this is decided (joining an absolute dataDir onto the config
 * folder once sent `fieldgate reload -c` looking for the pid file in the wrong place).
 */
export function resolveConfigPath(baseDir: string, p: string): string {
  return isAbsolute(p) ? p : resolve(baseDir, p);
}

/** resolveConfigPath bound to one config folder, for a StageContext's resolvePath. */
export function configPathResolver(baseDir: string): (p: string) => string {
  return (p) => resolveConfigPath(baseDir, p);
}

/** Where a running fieldgate writes its pid (for `fieldgate reload -c FILE`); dataDir already resolved. */
export function pidFilePath(dataDir: string): string {
  return resolve(dataDir, 'fieldgate.pid');
}
