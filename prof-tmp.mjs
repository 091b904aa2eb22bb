import * as tf from '@tensorflow/tfjs';
const { initBackend } = await import('/work/main/dist/src/segment/backend.js');
const { UNet } = await import('/work/main/dist/src/segment/unet.js');
const { diceCeLoss, oneHot5, LossSchema } = await import('/work/main/dist/src/segment/losses.js');
const be = await initBackend(process.argv[2] || 'auto');
const S = +(process.argv[3]||32), B=+(process.argv[4]||2), base=+(process.argv[5]||8), depth=+(process.argv[6]||3);
const net = new UNet({ depth, baseFilters: base, norm: process.argv[7]||'instance' }, 1);
const x = tf.randomUniform([B,S,S,S,1]);
const lab = new Uint8Array(B*S*S*S).map((_, i) => i % 4);
const y = oneHot5(lab, [B,S,S,S]);
const cfg = LossSchema.parse({});
const vars = net.trainableNames().map(n => net.p(n));
function step() { const { value, grads } = tf.variableGrads(() => diceCeLoss(net.forward(x, true), y, cfg).total, vars); value.dataSync(); tf.dispose([value, ...Object.values(grads)]); }
step();
let t = performance.now(); for (let i=0;i<3;i++) step(); const dt=(performance.now()-t)/3;
t = performance.now(); for (let i=0;i<3;i++) { const p = net.forward(x,false); p.dataSync(); p.dispose(); } const ft=(performance.now()-t)/3;
console.log(be.name, `S=${S} B=${B} base=${base} depth=${depth}`, 'step ms', dt.toFixed(0), 'fwd ms', ft.toFixed(0), 'Mvox/s train', (B*S**3/dt/1e3).toFixed(3), 'tensors', tf.memory().numTensors);
const prof = await tf.profile(() => { step(); });
const agg = {}; for (const k of prof.kernels) { agg[k.name] = (agg[k.name]||0) + (k.kernelTimeMs||0); }
console.log(Object.entries(agg).sort((a,b)=>b[1]-a[1]).slice(0,12).map(([k,v])=>`${k}:${v.toFixed(0)}`).join(' '));
