/**
 * Progress on stderr: a one-line bar with percent and ETA when stderr is a TTY, nothing otherwise
 * (CI logs stay clean) or when quiet. `--log-json` consumers get JSON lines through `setJsonLog`.
 */
export interface ProgressOptions {
  quiet?: boolean;
  stream?: NodeJS.WriteStream;
}

let globalQuiet = false;
let jsonLog = false;

export function setQuiet(q: boolean): void {
  globalQuiet = q;
}
export function setJsonLog(on: boolean): void {
  jsonLog = on;
}

/** Informational message on stderr (suppressed by --quiet; JSON line with --log-json). */
export function log(message: string, fields: Record<string, unknown> = {}): void {
  if (jsonLog) {
    process.stderr.write(JSON.stringify({ t: new Date().toISOString(), level: 'info', msg: message, ...fields }) + '\n');
  } else if (!globalQuiet) {
    process.stderr.write(message + '\n');
  }
}

export function formatDuration(s: number): string {
  if (!Number.isFinite(s) || s < 0) return '--';
  if (s < 59.5) return `${s.toFixed(s < 10 ? 1 : 0)}s`;
  // Round first, then split, so 119.6 s prints 2m00s, never 1m60s.
  const totalS = Math.round(s);
  if (totalS < 3600) return `${Math.floor(totalS / 60)}m${String(totalS % 60).padStart(2, '0')}s`;
  const totalM = Math.round(s / 60);
  return `${Math.floor(totalM / 60)}h${String(totalM % 60).padStart(2, '0')}m`;
}

export class Progress {
  private readonly start = performance.now();
  private done = 0;
  private lastDraw = 0;
  private readonly stream: NodeJS.WriteStream;
  private readonly active: boolean;

  constructor(
    readonly label: string,
    readonly total: number,
    opts: ProgressOptions = {},
  ) {
    this.stream = opts.stream ?? process.stderr;
    this.active = !(opts.quiet ?? globalQuiet) && !jsonLog && Boolean(this.stream.isTTY);
  }

  tick(n = 1): void {
    this.update(this.done + n);
  }

  update(done: number): void {
    this.done = Math.min(done, this.total);
    if (!this.active) return;
    const now = performance.now();
    if (now - this.lastDraw < 100 && this.done < this.total) return;
    this.lastDraw = now;
    const frac = this.total > 0 ? this.done / this.total : 1;
    const elapsed = (now - this.start) / 1000;
    const eta = frac > 0 ? (elapsed * (1 - frac)) / frac : NaN;
    const width = 24;
    const filled = Math.round(frac * width);
    const bar = '█'.repeat(filled) + '░'.repeat(width - filled);
    this.stream.write(`\r${this.label} ${bar} ${(frac * 100).toFixed(0).padStart(3)}% ETA ${formatDuration(eta)}   `);
  }

  /** Finish the bar; returns elapsed seconds. */
  finish(message?: string): number {
    const elapsed = (performance.now() - this.start) / 1000;
    if (this.active) this.stream.write(`\r${' '.repeat(70)}\r`);
    if (jsonLog) log(message ?? `${this.label} done`, { stage: this.label, seconds: elapsed });
    else if (message) log(message);
    return elapsed;
  }
}
