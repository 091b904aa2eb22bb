/**
 * The stage runner behind `nanoroi run`: each stage declares its input files, parameters and
 * output files; a manifest in the run folder records the hashes of inputs, outputs and parameters,
 * the nanoroi version and timings. A rerun skips a stage whose inputs, parameters and version are
 * unchanged and whose outputs are still there, intact. Stages write their outputs atomically and the
 * manifest is rewritten atomically after each stage, so an interrupted run resumes at the first
 * stage that did not finish, and never leaves a half-written file.
 */
import { createHash } from 'node:crypto';
import { createReadStream, existsSync, promises as fs } from 'node:fs';
import * as path from 'node:path';
import { z } from 'zod';
import { writeFileAtomic } from '../core/atomic.js';
import { NanoroiError } from '../core/errors.js';
import { log } from '../core/progress.js';
import { parseJsonText, parseWith } from '../core/schema.js';

export interface StageContext {
  /** The run folder; stage outputs are relative to it. */
  dir: string;
  /** Absolute path of a file in the run folder. */
  out(name: string): string;
}

export interface Stage {
  name: string;
  /** Files (absolute, or relative to the run folder) the stage reads. */
  inputs: string[];
  /** Everything that changes the result besides the input files. JSON-serializable. */
  params: unknown;
  /** Files (relative to the run folder) the stage writes. */
  outputs: string[];
  run(ctx: StageContext): Promise<Record<string, unknown> | void>;
}

const StageRecordSchema = z.object({
  name: z.string(),
  version: z.string(),
  paramsHash: z.string(),
  inputs: z.record(z.string(), z.string()),
  outputs: z.record(z.string(), z.string()),
  params: z.unknown(),
  startedAt: z.string(),
  seconds: z.number(),
  summary: z.record(z.string(), z.unknown()).optional(),
});
export type StageRecord = z.output<typeof StageRecordSchema>;

export const ManifestSchema = z.object({
  schemaVersion: z.literal(1),
  tool: z.literal('nanoroi'),
  stages: z.record(z.string(), StageRecordSchema),
});
export type Manifest = z.output<typeof ManifestSchema>;

export async function hashFile(file: string): Promise<string> {
  const h = createHash('sha256');
  await new Promise<void>((resolve, reject) => {
    const s = createReadStream(file);
    s.on('data', (c) => h.update(c));
    s.on('end', () => resolve());
    s.on('error', reject);
  });
  return h.digest('hex');
}

/** Canonical JSON (sorted keys) so parameter hashes do not depend on key order. */
export function canonicalJson(v: unknown): string {
  if (v === null || typeof v !== 'object') return JSON.stringify(v) ?? 'null';
  if (Array.isArray(v)) return `[${v.map(canonicalJson).join(',')}]`;
  const keys = Object.keys(v as Record<string, unknown>).filter((k) => (v as Record<string, unknown>)[k] !== undefined).sort();
  return `{${keys.map((k) => `${JSON.stringify(k)}:${canonicalJson((v as Record<string, unknown>)[k])}`).join(',')}}`;
}

export function hashParams(params: unknown): string {
  return createHash('sha256').update(canonicalJson(params)).digest('hex');
}

export async function readManifest(dir: string): Promise<Manifest> {
  const file = path.join(dir, 'manifest.json');
  if (!existsSync(file)) return { schemaVersion: 1, tool: 'nanoroi', stages: {} };
  const text = await fs.readFile(file, 'utf8');
  return parseWith(ManifestSchema, parseJsonText(text, file), file);
}

export interface RunOptions {
  dir: string;
  version: string;
  from?: string;
  to?: string;
  /** Re-run every selected stage even when up to date. */
  force?: boolean;
}

export interface RunResult {
  ran: string[];
  skipped: string[];
  manifest: Manifest;
}

function resolveIn(dir: string, f: string): string {
  return path.isAbsolute(f) ? f : path.join(dir, f);
}

async function upToDate(rec: StageRecord | undefined, stage: Stage, inputs: Record<string, string>, opts: RunOptions): Promise<boolean> {
  if (!rec || rec.version !== opts.version || rec.paramsHash !== hashParams(stage.params)) return false;
  if (canonicalJson(rec.inputs) !== canonicalJson(inputs)) return false;
  for (const o of stage.outputs) {
    const f = resolveIn(opts.dir, o);
    if (!existsSync(f) || rec.outputs[o] !== (await hashFile(f))) return false;
  }
  return true;
}

export async function runStages(stages: Stage[], opts: RunOptions): Promise<RunResult> {
  const names = stages.map((s) => s.name);
  const fromIdx = opts.from ? names.indexOf(opts.from) : 0;
  const toIdx = opts.to ? names.indexOf(opts.to) : names.length - 1;
  if (fromIdx < 0) throw new NanoroiError('E_ARGS', `--from ${opts.from}: no such stage; stages are ${names.join(', ')}`);
  if (toIdx < 0) throw new NanoroiError('E_ARGS', `--to ${opts.to}: no such stage; stages are ${names.join(', ')}`);
  if (toIdx < fromIdx) throw new NanoroiError('E_ARGS', `--from ${opts.from} comes after --to ${opts.to}`);
  const created = !existsSync(opts.dir);
  await fs.mkdir(opts.dir, { recursive: true });
  try {
    return await runSelected(stages, opts, fromIdx, toIdx);
  } catch (e) {
    // A run that fails before writing anything leaves no empty run folder behind.
    if (created) await fs.rmdir(opts.dir).catch(() => undefined);
    throw e;
  }
}

async function runSelected(stages: Stage[], opts: RunOptions, fromIdx: number, toIdx: number): Promise<RunResult> {
  const manifest = await readManifest(opts.dir);
  const ctx: StageContext = { dir: opts.dir, out: (n) => path.join(opts.dir, n) };
  const ran: string[] = [];
  const skipped: string[] = [];
  for (let i = 0; i < stages.length; i++) {
    const stage = stages[i];
    if (i < fromIdx || i > toIdx) continue;
    const inputs: Record<string, string> = {};
    for (const f of stage.inputs) {
      const abs = resolveIn(opts.dir, f);
      if (!existsSync(abs)) {
        // A file no stage writes is the user's input: say so plainly.
        const produced = stages.some((s) => s.outputs.includes(f));
        if (!produced) throw new NanoroiError('E_IO', `input ${f} does not exist; check the path`);
        throw new NanoroiError('E_STATE', `stage ${stage.name} needs ${f}, which does not exist; run the earlier stages first (without --from ${opts.from ?? stage.name})`);
      }
      inputs[f] = await hashFile(abs);
    }
    if (!opts.force && (await upToDate(manifest.stages[stage.name], stage, inputs, opts))) {
      skipped.push(stage.name);
      log(`${stage.name}: up to date, skipped`, { stage: stage.name, skipped: true });
      continue;
    }
    // The stage record goes away before the stage runs: if it is interrupted, the next run redoes it.
    delete manifest.stages[stage.name];
    await writeFileAtomic(path.join(opts.dir, 'manifest.json'), JSON.stringify(manifest, null, 2) + '\n');
    log(`${stage.name}: running`, { stage: stage.name });
    const startedAt = new Date().toISOString();
    const t0 = performance.now();
    const summary = (await stage.run(ctx)) ?? undefined;
    const seconds = (performance.now() - t0) / 1000;
    const outputs: Record<string, string> = {};
    for (const o of stage.outputs) {
      const f = resolveIn(opts.dir, o);
      if (!existsSync(f)) throw new Error(`stage ${stage.name} did not write its declared output ${o}`);
      outputs[o] = await hashFile(f);
    }
    manifest.stages[stage.name] = {
      name: stage.name,
      version: opts.version,
      paramsHash: hashParams(stage.params),
      params: stage.params,
      inputs,
      outputs,
      startedAt,
      seconds,
      ...(summary ? { summary } : {}),
    };
    await writeFileAtomic(path.join(opts.dir, 'manifest.json'), JSON.stringify(manifest, null, 2) + '\n');
    log(`${stage.name}: done in ${seconds.toFixed(1)} s`, { stage: stage.name, seconds });
    ran.push(stage.name);
  }
  return { ran, skipped, manifest };
}
