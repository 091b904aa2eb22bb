import { describe, expect, it } from 'vitest';
import { parsePipelineConfig } from '../../src/pipeline/config.js';
import { buildStages } from '../../src/pipeline/pipeline.js';

describe('pipeline config: propose.weights', () => {
  it('takes any subset of the ranking weights and hands them to the propose stage', async () => {
    const cfg = parsePipelineConfig({ input: { volume: 'v.nrrd' }, segment: { method: 'classical' }, propose: { weights: { confidence: 1, isolation: 0 } } });
    expect(cfg.propose.weights).toEqual({ confidence: 1, isolation: 0 });
    const stages = await buildStages(cfg, '/tmp/nanoroi-config-test', '/tmp');
    // A stage reruns when its parameters change: the weights are part of them.
    expect(stages.find((s) => s.name === 'propose')!.params).toMatchObject({ weights: { confidence: 1, isolation: 0 } });
    expect(parsePipelineConfig({}).propose.weights).toBeUndefined();
  });

  it('segment.model: a model in models/ by name; a missing one is an error, not a silent classical run', async () => {
    const named = parsePipelineConfig({ input: { volume: 'v.nrrd' }, segment: { model: 'bundled' } });
    const stages = await buildStages(named, '/tmp/nanoroi-config-test', '/tmp');
    expect(stages.find((s) => s.name === 'segment')!.outputs).toContain('confidence.nrrd'); // the model runs
    for (const method of ['auto', 'model'] as const) {
      const missing = parsePipelineConfig({ input: { volume: 'v.nrrd' }, segment: { method, model: 'no-such-model' } });
      await expect(buildStages(missing, '/tmp/nanoroi-config-test', '/tmp')).rejects.toThrow(/segmentation model "no-such-model" not found \(neither a file nor a model in models\/: .*bundled/);
    }
    // Classical ignores the model.
    const classical = parsePipelineConfig({ input: { volume: 'v.nrrd' }, segment: { method: 'classical', model: 'no-such-model' } });
    expect((await buildStages(classical, '/tmp/nanoroi-config-test', '/tmp')).find((s) => s.name === 'segment')!.outputs).not.toContain('confidence.nrrd');
  });

  it('propose runs the model\'s own crack verifier (an input of the stage), none for classical labels or when turned off', async () => {
    const verifierOf = async (cfg: object) => (await buildStages(parsePipelineConfig({ input: { volume: 'v.nrrd' }, ...cfg }), '/tmp/nanoroi-config-test', '/tmp')).find((s) => s.name === 'propose')!.inputs.filter((f) => f.endsWith('.verifier.json'));
    expect((await verifierOf({ segment: { model: 'bundled' } })).map((f) => f.split('/').slice(-2).join('/'))).toEqual(['models/bundled.verifier.json']);
    expect((await verifierOf({ segment: { model: 'fast' } })).map((f) => f.split('/').slice(-2).join('/'))).toEqual(['models/fast.verifier.json']);
    expect(await verifierOf({ segment: { method: 'classical' } })).toEqual([]);
    expect(await verifierOf({ segment: { model: 'bundled' }, propose: { verifier: false } })).toEqual([]);
    expect(parsePipelineConfig({}).propose.verifier).toBe(true);
    expect(() => parsePipelineConfig({ propose: { verifierThreshold: 1.5 } })).toThrow(/verifierThreshold/);
  });

  it('segment.classScale: four positive factors, part of the stage parameters (a change reruns segment); refused for the classical baseline', async () => {
    const cfg = parsePipelineConfig({ input: { volume: 'v.nrrd' }, segment: { model: 'bundled', classScale: [1, 1, 0.5, 1] } });
    expect(cfg.segment.classScale).toEqual([1, 1, 0.5, 1]);
    const stages = await buildStages(cfg, '/tmp/nanoroi-config-test', '/tmp');
    expect(stages.find((s) => s.name === 'segment')!.params).toMatchObject({ classScale: [1, 1, 0.5, 1] });
    expect(parsePipelineConfig({}).segment.classScale).toBeUndefined();
    expect(() => parsePipelineConfig({ segment: { classScale: [1, 1, 0.5] } })).toThrow(/classScale/);
    expect(() => parsePipelineConfig({ segment: { classScale: [1, 1, 0, 1] } })).toThrow(/classScale/);
    expect(() => parsePipelineConfig({ segment: { method: 'classical', classScale: [1, 1, 0.5, 1] } })).toThrow(/classScale applies to the model/);
  });

  it('rejects unknown or negative weights with one clear message', () => {
    expect(() => parsePipelineConfig({ propose: { weights: { depth: 1 } } })).toThrow(/depth/);
    expect(() => parsePipelineConfig({ propose: { weights: { confidence: -1 } } })).toThrow(/confidence/);
    expect(() => parsePipelineConfig({ propose: { weights: { confidence: 'high' } } })).toThrow(/confidence/);
  });
});
