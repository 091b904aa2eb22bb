import { describe, expect, it } from 'vitest';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { defaultModelPath, installedModels, resolveModelPath } from '../../src/segment/infer.js';
import { run } from '../../src/cli/main.js';
import { writeVolume } from '../../src/io/volume-file.js';
import { makeVolume } from '../../src/core/volume.js';

const models = path.dirname(defaultModelPath());

describe('--model: a file or the name of an installed model', () => {
  it('resolves names in models/, files as given, nothing to the bundled model', () => {
    expect(installedModels()).toContain('bundled');
    expect(resolveModelPath()).toBe(path.join(models, 'bundled.onnx'));
    expect(resolveModelPath('bundled')).toBe(path.join(models, 'bundled.onnx'));
    // A path, an .onnx name or an unknown name stays a path (relative to the working folder).
    expect(resolveModelPath('bundled.onnx')).toBe(path.resolve('bundled.onnx'));
    expect(resolveModelPath('sub/bundled')).toBe(path.resolve('sub/bundled'));
    expect(resolveModelPath('no-such-model')).toBe(path.resolve('no-such-model'));
    // A file that exists wins over a model of the same name.
    const dir = mkdtempSync(path.join(tmpdir(), 'nanoroi-model-path-'));
    const local = path.join(dir, 'bundled');
    writeFileSync(local, 'x');
    const cwd = process.cwd();
    process.chdir(dir);
    try {
      expect(resolveModelPath('bundled')).toBe(local);
    } finally {
      process.chdir(cwd);
    }
  });

  it('an unknown model is one clear error naming the installed ones', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'nanoroi-model-path-'));
    const v = path.join(dir, 'v.nrrd');
    await writeVolume(v, makeVolume(new Float32Array(16 ** 3).map((_, i) => (i % 7) / 7), [16, 16, 16], [0.05, 0.05, 0.05]));
    const out = path.join(dir, 'labels.nrrd');
    const errors: string[] = [];
    const write = process.stderr.write.bind(process.stderr);
    process.stderr.write = ((s: string) => (errors.push(String(s)), true)) as typeof process.stderr.write;
    try {
      expect(await run(['segment', v, '--out', out, '--model', 'no-such-model', '-q'])).toBe(2);
    } finally {
      process.stderr.write = write;
    }
    expect(errors.join('')).toMatch(/model .*no-such-model does not exist \(installed in models\/: .*bundled.*\)/);
  });
});
