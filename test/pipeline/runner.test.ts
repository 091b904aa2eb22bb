import { describe, expect, it } from 'vitest';
import { mkdtempSync, readFileSync, writeFileSync, existsSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { canonicalJson, runStages, type Stage } from '../../src/pipeline/runner.js';
import { writeFileAtomic } from '../../src/core/atomic.js';

function makeStages(dir: string, calls: string[], opts: { failIn?: string; factor?: number } = {}): Stage[] {
  const input = path.join(dir, 'input.txt');
  return [
    {
      name: 'a',
      inputs: [input],
      params: { factor: opts.factor ?? 2 },
      outputs: ['a.txt'],
      run: async (ctx) => {
        calls.push('a');
        const n = Number(readFileSync(input, 'utf8'));
        await writeFileAtomic(ctx.out('a.txt'), String(n * (opts.factor ?? 2)));
        return { value: n };
      },
    },
    {
      name: 'b',
      inputs: ['a.txt'],
      params: {},
      outputs: ['b.txt'],
      run: async (ctx) => {
        calls.push('b');
        if (opts.failIn === 'b') throw new Error('boom');
        await writeFileAtomic(ctx.out('b.txt'), String(Number(readFileSync(ctx.out('a.txt'), 'utf8')) + 1));
      },
    },
  ];
}

describe('pipeline runner', () => {
  it('runs, skips when nothing changed, reruns from a changed input or parameter', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'nanoroi-run-'));
    writeFileSync(path.join(dir, 'input.txt'), '5');
    const calls: string[] = [];
    const r1 = await runStages(makeStages(dir, calls), { dir, version: '1' });
    expect(r1.ran).toEqual(['a', 'b']);
    expect(readFileSync(path.join(dir, 'b.txt'), 'utf8')).toBe('11');
    const r2 = await runStages(makeStages(dir, calls), { dir, version: '1' });
    expect(r2.ran).toEqual([]);
    expect(r2.skipped).toEqual(['a', 'b']);
    writeFileSync(path.join(dir, 'input.txt'), '6');
    const r3 = await runStages(makeStages(dir, calls), { dir, version: '1' });
    expect(r3.ran).toEqual(['a', 'b']);
    expect(readFileSync(path.join(dir, 'b.txt'), 'utf8')).toBe('13');
    const r4 = await runStages(makeStages(dir, calls, { factor: 3 }), { dir, version: '1' });
    expect(r4.ran).toEqual(['a', 'b']);
    // a tampered output is redone
    writeFileSync(path.join(dir, 'b.txt'), 'garbage');
    const r5 = await runStages(makeStages(dir, calls, { factor: 3 }), { dir, version: '1' });
    expect(r5.ran).toEqual(['b']);
    // a new version reruns everything
    const r6 = await runStages(makeStages(dir, calls, { factor: 3 }), { dir, version: '2' });
    expect(r6.ran).toEqual(['a', 'b']);
    const m = JSON.parse(readFileSync(path.join(dir, 'manifest.json'), 'utf8'));
    expect(m.stages.a.summary).toEqual({ value: 6 });
    expect(Object.keys(m.stages.a.inputs)).toEqual([path.join(dir, 'input.txt')]);
  });

  it('a failing stage keeps earlier outputs and resumes there; --from/--to select stages', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'nanoroi-run-'));
    writeFileSync(path.join(dir, 'input.txt'), '1');
    const calls: string[] = [];
    await expect(runStages(makeStages(dir, calls, { failIn: 'b' }), { dir, version: '1' })).rejects.toThrow('boom');
    expect(existsSync(path.join(dir, 'a.txt'))).toBe(true);
    expect(existsSync(path.join(dir, 'b.txt'))).toBe(false);
    expect(readdirSync(dir).filter((f) => f.endsWith('.tmp'))).toEqual([]);
    calls.length = 0;
    const r = await runStages(makeStages(dir, calls), { dir, version: '1' });
    expect(r.skipped).toEqual(['a']);
    expect(calls).toEqual(['b']);
    calls.length = 0;
    const only = await runStages(makeStages(dir, calls), { dir, version: '1', from: 'b', to: 'b', force: true });
    expect(only.ran).toEqual(['b']);
    await expect(runStages(makeStages(dir, calls), { dir, version: '1', from: 'zzz' })).rejects.toThrow(/no such stage; stages are a, b/);
    // a run that fails before writing anything leaves no run folder behind
    const fresh = path.join(dir, 'never');
    await expect(runStages(makeStages(path.join(dir, 'missing-input-dir'), calls), { dir: fresh, version: '1' })).rejects.toThrow(/input .*input\.txt does not exist; check the path/);
    expect(existsSync(fresh)).toBe(false);
  });

  it('canonical JSON ignores key order', () => {
    expect(canonicalJson({ b: 1, a: [1, { d: 2, c: 3 }] })).toBe(canonicalJson({ a: [1, { c: 3, d: 2 }], b: 1 }));
  });
});
