import { readFileSync } from 'node:fs';
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { FgError, errorMessage } from './core/errors.ts';
import type { CommandContext } from './cli/commands.ts';
import { UsageError } from './cli/usage.ts';

// The commands (and through them the config loader, zod and yaml) are imported once a command is
// named, so `--version` and `--help` load nothing else.

// package.json sits one level up from src/cli.ts, two from the compiled dist/src/cli.js
const pkgUrl = new URL(import.meta.url.endsWith('.ts') ? '../package.json' : '../../package.json', import.meta.url);
const pkg = JSON.parse(readFileSync(pkgUrl, 'utf8')) as { version: string };

const HELP = `fieldgate ${pkg.version}: edge gateway for industrial sensor data

Usage:
  fieldgate run -c FILE            run the pipeline (SIGTERM/SIGINT drain and exit, SIGHUP reloads)
  fieldgate validate -c FILE       check a config file (and its models) without starting anything
  fieldgate schema                 print the config JSON Schema (for # yaml-language-server: $schema=)
  fieldgate simulate -c FILE       run only the simulators: section of FILE
  fieldgate browse -c FILE --source ID [--node NODE]   list an OPC UA server's address space
  fieldgate model inspect FILE.onnx                    print a model's inputs and outputs
  fieldgate model fit --data F.csv --normal-until T --out DIR   fit an anomaly model on your normal data
  fieldgate model evaluate DIR --data F.csv [--windows W.json]  replay data through a model, list events
  fieldgate read -c FILE [--source ID] [--once | --watch] [--timeout 30s]
                                   read every tag of the configured sources once (or keep printing
                                   changes); exit 0 only if every tag read good
  fieldgate reload [--pid PID | -c FILE]               reload a running fieldgate's config and print the result

Options:
  -c, --config FILE   configuration file (YAML)
  --debug             print stack traces
  -h, --help          this help
  -v, --version       the version
`;

const OPTIONS = {
  config: { type: 'string', short: 'c' },
  source: { type: 'string' },
  node: { type: 'string' },
  pid: { type: 'string' },
  once: { type: 'boolean' },
  timeout: { type: 'string' },
  watch: { type: 'boolean' },
  debug: { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
  version: { type: 'boolean', short: 'v' },
} satisfies ParseArgsConfig['options'];


async function main(argv: string[]): Promise<number> {
  let parsed;
  try {
    // `model fit|evaluate` have flags of their own: the sub-command parses them
    if (argv[0] === 'model' && !argv.includes('-h') && !argv.includes('--help')) {
      parsed = { values: { debug: argv.includes('--debug') } as ReturnType<typeof parseArgs<{ options: typeof OPTIONS }>>['values'], positionals: argv.filter((a) => a !== '--debug') };
    } else parsed = parseArgs({ args: argv, options: OPTIONS, allowPositionals: true, strict: true });
  } catch (e) {
    process.stderr.write(`fieldgate: ${errorMessage(e).split('\n')[0]} (see fieldgate --help)\n`);
    return 2;
  }
  const { values, positionals } = parsed;
  if (values.version) {
    process.stdout.write(`${pkg.version}\n`);
    return 0;
  }
  if (values.help || positionals.length === 0) {
    process.stdout.write(HELP);
    return positionals.length === 0 && !values.help ? 2 : 0;
  }
  const [name, ...rest] = positionals;
  const { commands } = await import('./cli/commands.ts');
  const command = Object.hasOwn(commands, name!) ? commands[name!] : undefined;
  if (!command) {
    process.stderr.write(`fieldgate: unknown command "${name}" (see fieldgate --help)\n`);
    return 2;
  }
  const ctx: CommandContext = {
    config: values.config,
    source: values.source,
    node: values.node,
    pid: values.pid,
    watch: values.watch === true,
    once: values.once === true,
    timeout: values.timeout,
    debug: values.debug === true,
    args: rest,
  };
  const debug = ctx.debug;
  try {
    return await command(ctx);
  } catch (e) {
    if (e instanceof UsageError) {
      process.stderr.write(`fieldgate: ${e.message}\n`);
      return 2;
    }
    const { ConfigError } = await import('./config/load.ts');
    if (e instanceof ConfigError) {
      process.stderr.write(`${e.code}: ${e.total} problem${e.total === 1 ? '' : 's'} in the configuration\n${e.message}\n`);
      return 1;
    }
    if (e instanceof FgError && e.code === 'FG_E_CONFIG_FILE') {
      process.stderr.write(`fieldgate: ${e.message}\n`);
      return 2;
    }
    const code = e instanceof FgError ? e.code : 'FG_E_UNEXPECTED';
    process.stderr.write(`${code}: ${errorMessage(e)}\n`);
    if (debug && e instanceof Error && e.stack) process.stderr.write(`${e.stack}\n`);
    return 1;
  }
}

const code = await main(process.argv.slice(2));
process.exitCode = code;
