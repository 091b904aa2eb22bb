/**
 * The nanoroi command line. Thin: each verb parses and validates its arguments, calls one library
 * function (imported lazily so `nanoroi --help` starts fast), and prints. User errors
 * (NanoroiError, bad arguments) print one line `nanoroi: …` and exit 2; bugs keep their stack.
 */
import yargs from 'yargs';
import { isNanoroiError, NanoroiError } from '../core/errors.js';
import { setJsonLog, setQuiet } from '../core/progress.js';
import { setThreads } from '../core/pool.js';
import { commands } from './commands/index.js';

export async function run(argv: string[]): Promise<number> {
  let failure: string | null = null;
  const parser = yargs(argv)
    .scriptName('nanoroi')
    .usage('$0 <command> [options]\n\nnanoCT → FIB-SEM → SIMS: reconstruct, segment micropores and cracks, propose ROIs, plan milling and SIMS.')
    .option('quiet', { alias: 'q', type: 'boolean', describe: 'no progress or info on stderr', global: true })
    .option('log-json', { type: 'boolean', describe: 'machine-readable JSON lines on stderr', global: true })
    .option('threads', { type: 'number', describe: 'worker threads (default: all cores; 0 = main thread only)', global: true })
    .middleware((args) => {
      if (args.quiet) setQuiet(true);
      if (args['log-json']) setJsonLog(true);
      if (args.threads !== undefined) {
        const t = Number(args.threads);
        if (!Number.isInteger(t) || t < 0) throw new NanoroiError('E_ARGS', `--threads must be a non-negative integer, got ${String(args.threads)}`);
        setThreads(t);
      }
    })
    .command(commands)
    .demandCommand(1, 'give a command; see `nanoroi --help`')
    .strict()
    .recommendCommands()
    .help()
    .alias('h', 'help')
    .version()
    .wrap(Math.min(110, process.stdout.columns || 100))
    .exitProcess(false)
    .fail((msg, err) => {
      if (err) throw err;
      failure = msg;
    });
  try {
    await parser.parseAsync();
  } catch (e) {
    if (isNanoroiError(e)) {
      process.stderr.write(`nanoroi: ${e.message}\n`);
      return 2;
    }
    if (e instanceof Error && e.name === 'YError') {
      process.stderr.write(`nanoroi: ${e.message}\n`);
      return 2;
    }
    throw e;
  }
  if (failure !== null) {
    process.stderr.write(`nanoroi: ${failure}\n`);
    return 2;
  }
  return 0;
}
