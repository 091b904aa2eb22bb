import { describe, expect, it } from 'vitest';
import * as os from 'node:os';
import * as path from 'node:path';
import { promises as fs, existsSync } from 'node:fs';
import { run } from '../../src/cli/main.js';
import { writeVolume, readVolume } from '../../src/io/volume-file.js';
import { makeVolume } from '../../src/core/volume.js';
import { setQuiet } from '../../src/core/progress.js';
import { syntheticVolume } from './synthetic.js';

describe('nanoroi train / segment (CLI)', () => {
  it('trains from a manifest, exports ONNX + card, resumes, fine-tunes with a labelMap, and segments', async () => {
    setQuiet(true);
    const tmp = await fs.mkdtemp(path.join(os.tmpdir(), 'nanoroi-cli-seg-'));
    const samples = [];
    for (const [i, split] of (['train', 'train', 'val', 'test'] as const).entries()) {
      const s = syntheticVolume([24, 24, 24], 10 + i);
      await writeVolume(path.join(tmp, `v${i}.nrrd`), makeVolume(s.image, s.shape, [0.05, 0.05, 0.05]));
      // The user's labels use 10/20/30 for particle/micropore/crack.
      const user = s.labels.map((l) => l * 10);
      await writeVolume(path.join(tmp, `l${i}.nrrd`), makeVolume(user, s.shape, [0.05, 0.05, 0.05]));
      samples.push({ volume: `v${i}.nrrd`, labels: `l${i}.nrrd`, split, labelMap: { '10': 1, '20': 2, '30': 3 } });
    }
    await fs.writeFile(path.join(tmp, 'manifest.json'), JSON.stringify({ schemaVersion: 1, samples }));
    const cfg = {
      name: 'clitest',
      datasets: ['manifest.json'],
      output: 'run',
      model: { depth: 2, baseFilters: 4 },
      patch: { size: [16, 16, 16], batchSize: 2 },
      epochs: 2,
      stepsPerEpoch: 2,
      validation: { patches: 2 },
      export: { onnx: 'models/clitest.onnx' },
    };
    await fs.writeFile(path.join(tmp, 'train.json'), JSON.stringify(cfg));
    expect(await run(['train', '--config', path.join(tmp, 'train.json'), '--max-epochs', '1', '-q'])).toBe(0);
    expect(existsSync(path.join(tmp, 'models/clitest.onnx'))).toBe(true);
    expect(existsSync(path.join(tmp, 'models/clitest.card.json'))).toBe(false); // not finished, no --card
    expect(await run(['train', '--config', path.join(tmp, 'train.json'), '-q'])).toBe(2); // checkpoint exists, no --resume
    // --max-epochs 0: export and card from the checkpoint without training.
    expect(await run(['train', '--config', path.join(tmp, 'train.json'), '--resume', '--max-epochs', '0', '--card', '-q'])).toBe(0);
    expect(JSON.parse(await fs.readFile(path.join(tmp, 'models/clitest.card.json'), 'utf8')).training.epochsCompleted).toBe(1);
    expect(await run(['train', '--config', path.join(tmp, 'train.json'), '--resume', '-q'])).toBe(0);
    const card = JSON.parse(await fs.readFile(path.join(tmp, 'models/clitest.card.json'), 'utf8'));
    expect(card.training.epochsCompleted).toBe(2);
    expect(card.data.samples).toEqual({ train: 2, val: 1, test: 1 });
    expect(card.heldOut.samples).toHaveLength(1);
    expect(card.heldOut.mean.model.dice.particle).toBeGreaterThanOrEqual(0);
    expect(card.heldOut.mean.classical).not.toBeNull();
    expect(await fs.readFile(path.join(tmp, 'models/clitest.card.md'), 'utf8')).toMatch(/classical baseline/);

    // Fine-tune from the exported tfjs copy into a new run folder.
    const ft = { ...cfg, name: 'ft', output: 'run-ft', epochs: 1, export: { onnx: 'models/ft.onnx', card: false } };
    await fs.writeFile(path.join(tmp, 'ft.json'), JSON.stringify(ft));
    expect(await run(['train', '--config', path.join(tmp, 'ft.json'), '--init', path.join(tmp, 'models/clitest'), '-q'])).toBe(0);
    expect(existsSync(path.join(tmp, 'models/ft.onnx'))).toBe(true);

    const out = path.join(tmp, 'seg/labels.nrrd');
    expect(await run(['segment', path.join(tmp, 'v3.nrrd'), '--out', out, '--model', path.join(tmp, 'models/clitest.onnx'), '--probabilities', path.join(tmp, 'seg/p.nrrd'), '-q'])).toBe(0);
    const lab = (await readVolume(out)).volume;
    expect(lab.shape).toEqual([24, 24, 24]);
    expect(Math.max(...lab.data)).toBeLessThanOrEqual(3);
    const pm = (await readVolume(path.join(tmp, 'seg/p.micropore.nrrd'))).volume;
    expect(pm.data.length).toBe(24 ** 3);
    // p.nrrd is each voxel's confidence in its predicted class, and propose reads it
    const conf = (await readVolume(path.join(tmp, 'seg/p.nrrd'))).volume;
    const pc = [null, (await readVolume(path.join(tmp, 'seg/p.particle.nrrd'))).volume, pm, (await readVolume(path.join(tmp, 'seg/p.crack.nrrd'))).volume];
    for (let i = 0; i < conf.data.length; i += 97) {
      const k = lab.data[i];
      const expected = k === 0 ? 1 - (pc[1]!.data[i] + pc[2]!.data[i] + pc[3]!.data[i]) : pc[k]!.data[i];
      expect(conf.data[i]).toBeCloseTo(expected, 4);
    }
    expect(await run(['propose', out, '--out', path.join(tmp, 'seg/rois.json'), '--probabilities', path.join(tmp, 'seg/p.nrrd'), '-q'])).toBe(0);
    expect(await run(['segment', path.join(tmp, 'v3.nrrd'), '--out', out, '--model', path.join(tmp, 'models/clitest.onnx'), '--overlap', '1', '-q'])).toBe(2);
    expect(await run(['segment', path.join(tmp, 'v3.nrrd'), '--out', out, '--model', path.join(tmp, 'nope.onnx'), '-q'])).toBe(2);
    expect(await run(['segment', path.join(tmp, 'v3.nrrd'), '--out', out, '--method', 'classical', '--tta', '-q'])).toBe(2);
    // --class-scale: four positive numbers; a malformed one is refused before anything is written.
    const scaled = path.join(tmp, 'seg/scaled.nrrd');
    expect(await run(['segment', path.join(tmp, 'v3.nrrd'), '--out', scaled, '--model', path.join(tmp, 'models/clitest.onnx'), '--class-scale', '1,1,1,1', '-q'])).toBe(0);
    expect(Buffer.from((await readVolume(scaled)).volume.data as Uint8Array).equals(Buffer.from(lab.data as Uint8Array))).toBe(true);
    for (const bad of ['1,1,0.5', '1,1,0,1', '1,1,x,1', '1,1,-2,1']) {
      await fs.rm(scaled, { force: true });
      expect(await run(['segment', path.join(tmp, 'v3.nrrd'), '--out', scaled, '--model', path.join(tmp, 'models/clitest.onnx'), '--class-scale', bad, '-q'])).toBe(2);
      expect(existsSync(scaled)).toBe(false);
    }
    await fs.rm(tmp, { recursive: true, force: true });
  });
});
