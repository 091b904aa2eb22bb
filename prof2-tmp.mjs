import * as tf from '@tensorflow/tfjs';
const { initBackend } = await import('/work/main/dist/src/segment/backend.js');
await initBackend('wasm');
const M=65536, K=216, F=16;
const col = tf.randomNormal([M,K]); const dy = tf.randomNormal([M,F]); const w = tf.randomNormal([K,F]);
const colT = tf.randomNormal([K,M]); const wT = tf.randomNormal([F,K]);
function time(name, fn){ fn().dispose(); const t=performance.now(); for(let i=0;i<3;i++){const y=fn(); y.dataSync(); y.dispose();} console.log(name, ((performance.now()-t)/3).toFixed(1),'ms'); }
time('col·W', ()=>tf.matMul(col,w));
time('colT[K,M]·dy', ()=>tf.matMul(colT,dy));
time('dy·wT[F,K]', ()=>tf.matMul(dy,wT));
time('dy·Wt (transposeB)', ()=>tf.matMul(dy,w,false,true));
time('dy·(transpose W)', ()=>tf.tidy(()=>tf.matMul(dy,tf.transpose(w))));
time('col·W again', ()=>tf.matMul(col,w));
