// ONNX Runtime as a benchmark peer (tests/bench/benchmark.py runs it): the CPU library that
// the npm package onnxruntime-node ships (`npm install --ignore-scripts onnxruntime-node`).
//   node ort-run.js MODEL.onnx FRAMES.f32 WIDTH HEIGHT N THREADS OUT.f32
// FRAMES: N luma planes of float32 in [0, 1]; OUT: the model's N outputs, float32.
// Prints {"seconds": inference time of the N frames after one warm-up, "version": ...}.
'use strict';
const fs = require('fs');
const ort = require('onnxruntime-node');

async function main () {
  const [model, inPath, w, h, n, threads, outPath] = process.argv.slice(2);
  const W = Number(w), H = Number(h), N = Number(n);
  const session = await ort.InferenceSession.create(model, {
    intraOpNumThreads: Number(threads), interOpNumThreads: 1, executionMode: 'sequential',
    graphOptimizationLevel: 'all'
  });
  const bytes = fs.readFileSync(inPath);
  const frames = new Float32Array(bytes.buffer, bytes.byteOffset, bytes.length / 4);
  const frame = (i) => new ort.Tensor('float32', frames.slice(i * W * H, (i + 1) * W * H), [1, 1, H, W]);
  const input = session.inputNames[0], output = session.outputNames[0];
  await session.run({ [input]: frame(0) });
  const out = fs.openSync(outPath, 'w');
  let seconds = 0;
  for (let i = 0; i < N; i++) {
    const feeds = { [input]: frame(i) };
    const t0 = process.hrtime.bigint();
    const result = await session.run(feeds);
    seconds += Number(process.hrtime.bigint() - t0) / 1e9;
    const o = result[output].data;
    fs.writeSync(out, Buffer.from(o.buffer, o.byteOffset, o.byteLength));
  }
  fs.closeSync(out);
  const version = require('onnxruntime-node/package.json').version;
  console.log(JSON.stringify({ seconds, version }));
}

main().catch((e) => { console.error(e.message); process.exit(1); });
