/**
 * Progress on stderr: a one-line bar with percent and ETA when stderr is a TTY; otherwise (a log
 * file, `nohup`, CI) one plain line at most every `intervalMs` (default a minute), so a job that runs
 * for hours says how far it is without filling a short run's log; nothing when quiet.
 * `--log-json` consumers get JSON lines through `setJsonLog` (progress lines at the same pace).
 */
export interface ProgressOptions {
  quiet?: boolean;
  stream?: NodeJS.WriteStream;
  /** Least time between two plain or JSON progress lines (ms; default 60 000). */
  intervalMs?: number;
  /** Clock in ms (tests). */
  now?: () => number;
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
  private readonly now: () => number;
  private readonly start: number;
  private done = 0;
  private lastDraw = 0;
  private lastLine: number;
  private readonly stream: NodeJS.WriteStream;
  /** 'bar' redraws in place (TTY), 'lines' writes a plain or JSON line now and then, 'off' nothing. */
  private readonly mode: 'bar' | 'lines' | 'off';
  private readonly intervalMs: number;

  constructor(
    readonly label: string,
    readonly total: number,
    opts: ProgressOptions = {},
  ) {
    this.now = opts.now ?? (() => performance.now());
    this.start = this.now();
    this.lastLine = this.start;
    this.stream = opts.stream ?? process.stderr;
    this.intervalMs = opts.intervalMs ?? 60_000;
    const quiet = opts.quiet ?? globalQuiet;
    this.mode = jsonLog ? 'lines' : quiet ? 'off' : this.stream.isTTY ? 'bar' : 'lines';
  }

  private get active(): boolean {
    return this.mode === 'bar';
  }

  tick(n = 1): void {
    this.update(this.done + n);
  }

  update(done: number): void {
    this.done = Math.min(done, this.total);
    if (this.mode === 'off') return;
    const now = this.now();
    if (this.mode === 'lines') {
      if (now - this.lastLine < this.intervalMs || this.done >= this.total) return;
      this.lastLine = now;
      const frac = this.total > 0 ? this.done / this.total : 1;
      const elapsed = (now - this.start) / 1000;
      const eta = frac > 0 ? (elapsed * (1 - frac)) / frac : NaN;
      if (jsonLog) {
        this.stream.write(JSON.stringify({ t: new Date().toISOString(), level: 'progress', stage: this.label, done: this.done, total: this.total, elapsed_s: +elapsed.toFixed(1), eta_s: Number.isFinite(eta) ? +eta.toFixed(1) : null }) + '\n');
      } else {
        this.stream.write(`${this.label}: ${(frac * 100).toFixed(0)}% (${this.done}/${this.total}), ${formatDuration(elapsed)} so far, ETA ${formatDuration(eta)}\n`);
      }
      return;
    }
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
    const elapsed = (this.now() - this.start) / 1000;
    if (this.active) this.stream.write(`\r${' '.repeat(70)}\r`);
    if (jsonLog) log(message ?? `${this.label} done`, { stage: this.label, seconds: elapsed });
    else if (message) log(message);
    return elapsed;
  }
}
