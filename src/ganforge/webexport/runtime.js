// ganforge's web runtime: PyTorch's seeded noise and a generator program (webexport/program.py) run with
// TensorFlow.js's CPU backend. `ganforge generate RUN -n N --seed S` and `drawImages(model, N, S)` draw the
// same noise: torch.Generator().manual_seed(S) is an MT19937, and randn / rand are rebuilt here as PyTorch's
// CPU kernels compute them (uniform floats from 24 bits; Box-Muller on blocks of 16, or on doubles under 16).
(function (root) {
  "use strict";

  function MT19937(seed) {
    const mt = new Uint32Array(624);
    mt[0] = seed >>> 0;
    for (let i = 1; i < 624; i++) {
      const p = mt[i - 1] ^ (mt[i - 1] >>> 30);
      mt[i] = (Math.imul(1812433253, p) + i) >>> 0;
    }
    let idx = 624;
    this.next = function () {             // one 32-bit draw, as std::mt19937
      if (idx >= 624) {
        for (let k = 0; k < 624; k++) {
          const y = (mt[k] & 0x80000000) | (mt[(k + 1) % 624] & 0x7fffffff);
          mt[k] = mt[(k + 397) % 624] ^ (y >>> 1) ^ (y & 1 ? 0x9908b0df : 0);
        }
        idx = 0;
      }
      let y = mt[idx++];
      y ^= y >>> 11;
      y ^= (y << 7) & 0x9d2c5680;
      y ^= (y << 15) & 0xefc60000;
      y ^= y >>> 18;
      return y >>> 0;
    };
  }

  const f32 = Math.fround;
  function uniformFloat(g) { return f32((g.next() & 0xffffff) * 5.960464477539063e-8); }   // 2^-24
  function uniformDouble(g) {                                                              // 53 of 64 bits
    const hi = g.next(), lo = g.next();
    return ((hi & 0x1fffff) * 4294967296 + lo) * 1.1102230246251565e-16;                   // 2^-53
  }

  function fill16(d, j) {
    for (let k = 0; k < 8; k++) {
      const u1 = 1 - d[j + k], u2 = d[j + k + 8];
      const r = Math.sqrt(-2 * Math.log(u1)), t = 2 * Math.PI * u2;
      d[j + k] = r * Math.cos(t);
      d[j + k + 8] = r * Math.sin(t);
    }
  }

  // torch.randn(n, generator=torch.Generator().manual_seed(seed)) as a Float32Array
  function randn(n, seed) {
    const g = new MT19937(seed), d = new Float32Array(n);
    if (n >= 16) {
      for (let i = 0; i < n; i++) d[i] = uniformFloat(g);
      for (let j = 0; j + 16 <= n; j += 16) fill16(d, j);
      if (n % 16) {
        for (let k = 0; k < 16; k++) d[n - 16 + k] = uniformFloat(g);
        fill16(d, n - 16);
      }
      return d;
    }
    let cached = null;
    for (let i = 0; i < n; i++) {
      if (cached !== null) { d[i] = cached; cached = null; continue; }
      const u1 = uniformDouble(g), u2 = uniformDouble(g);
      const r = Math.sqrt(-2 * Math.log1p(-u2)), t = 2 * Math.PI * u1;
      cached = r * Math.sin(t);
      d[i] = r * Math.cos(t);
    }
    return d;
  }

  // torch.rand(n, ...) * 2 - 1: the uniform noise of z_distribution "uniform"
  function randSigned(n, seed) {
    const g = new MT19937(seed), d = new Float32Array(n);
    for (let i = 0; i < n; i++) d[i] = f32(f32(uniformFloat(g) * 2) - 1);
    return d;
  }

  function noise(model, n, seed) {
    const size = n * model.meta.z_dim;
    return model.meta.z_distribution === "uniform" ? randSigned(size, seed) : randn(size, seed);
  }

  // Labels as `ganforge generate` gives them: all `cls`, or cycling through the classes.
  function labelsFor(model, n, cls) {
    const k = model.meta.num_classes, out = new Int32Array(n);
    for (let i = 0; i < n; i++) out[i] = cls === null || cls === undefined ? i % k : cls;
    return out;
  }

  function decodeWeights(model) {
    if (model.arrays) return model.arrays;
    const bytes = Uint8Array.from(atob(model.weights), (c) => c.charCodeAt(0));
    const all = new Float32Array(bytes.buffer);
    model.arrays = model.tensors.map((t) => tf.tensor(all.subarray(t.offset, t.offset + t.size), t.shape));
    return model.arrays;
  }

  // PyTorch's dimension d of a value of rank r, in the page's layout (4-d values are channels-last here)
  const NHWC = [0, 3, 1, 2];
  function axis(d, r) { return r === 4 ? NHWC[d] : d; }
  function toTorch(x) { return x.rank === 4 ? tf.transpose(x, [0, 3, 1, 2]) : x; }
  function fromTorch(x) { return x.rank === 4 ? tf.transpose(x, [0, 2, 3, 1]) : x; }

  // Images (N, H, W, C) in [-1, 1] from noise z (Float32Array, N * z_dim) and labels (Int32Array or null):
  // the program of webexport/program.py, one op per traced node of G (its OPS), each adding one value.
  function forward(model, z, n, labels) {
    const T = decodeWeights(model);
    return tf.tidy(() => {
      const v = [tf.tensor2d(z, [n, model.meta.z_dim]), labels ? tf.tensor1d(labels, "int32") : null];
      for (const o of model.ops) {
        const a = v[o.in[0]], r = a ? a.rank : 0;
        let x;
        switch (o.op) {
          case "linear": x = tf.matMul(a, T[o.w]); if (o.b !== null) x = tf.add(x, T[o.b]); break;
          case "affine": x = tf.add(tf.mul(a, T[o.scale]), T[o.shift]); break;
          case "conv": {
            const p = o.pad;
            x = tf.conv2d(a, T[o.w], o.stride, p ? [[0, 0], [p, p], [p, p], [0, 0]] : "valid");
            if (o.b !== null) x = tf.add(x, T[o.b]);
            break;
          }
          case "convT": {
            const [b, h, w] = a.shape, cout = T[o.w].shape[2];
            x = tf.conv2dTranspose(a, T[o.w], [b, 2 * h, 2 * w, cout], 2, "same");
            if (o.out !== 2 * h) x = tf.slice(x, [0, 0, 0, 0], [b, o.out, o.out, cout]);
            if (o.b !== null) x = tf.add(x, T[o.b]);
            break;
          }
          case "upsample": x = tf.image.resizeNearestNeighbor(a, o.size, false, false); break;
          case "avgpool": x = tf.avgPool(a, o.k, o.k, "valid"); break;
          case "relu": x = tf.relu(a); break;
          case "leaky": x = tf.leakyRelu(a, o.alpha); break;
          case "tanh": x = tf.tanh(a); break;
          case "sigmoid": x = tf.sigmoid(a); break;
          case "glu": { const [p, q] = tf.split(a, 2, axis(o.dim, r)); x = tf.mul(p, tf.sigmoid(q)); break; }
          case "add": x = tf.add(a, o.in.length > 1 ? v[o.in[1]] : tf.scalar(o.scalar)); break;
          case "sub": x = tf.sub(a, o.in.length > 1 ? v[o.in[1]] : tf.scalar(o.scalar)); break;
          case "mul": x = tf.mul(a, o.in.length > 1 ? v[o.in[1]] : tf.scalar(o.scalar)); break;
          case "cat": x = tf.concat(o.in.map((i) => v[i]), axis(o.dim, r)); break;
          case "mean": x = tf.mean(a, o.dims.map((d) => axis(d, r)), true);
            if (!o.keepdim) x = fromTorch(tf.reshape(toTorch(x), [n, ...o.shape])); break;
          case "reshape": x = fromTorch(tf.reshape(toTorch(a), [n, ...o.shape])); break;
          case "expand": x = fromTorch(tf.broadcastTo(toTorch(a), [n, ...o.shape])); break;
          case "slice": x = fromTorch(tf.slice(toTorch(a), [0, ...o.begin], [n, ...o.size])); break;
          case "onehot": x = tf.cast(tf.oneHot(a, o.classes), "float32"); break;
          case "const": x = T[o.t]; break;
          default: throw new Error("unknown op " + o.op);
        }
        v.push(x);
      }
      const out = v[v.length - 1];
      return out.rank === 4 ? out : fromTorch(tf.reshape(out, [n, model.meta.channels, model.meta.resolution,
        model.meta.resolution]));
    });
  }

  // uint8 RGBA pixels (N, H, W, 4) rounded as ganforge's to_uint8 rounds; grey images fill R, G and B.
  function toRGBA(images) {
    const [n, h, w, c] = images.shape, src = images.dataSync(), out = new Uint8ClampedArray(n * h * w * 4);
    for (let p = 0, q = 0; p < n * h * w; p++, q += c) {
      for (let ch = 0; ch < 3; ch++) {
        const v = Math.round((src[q + (c === 1 ? 0 : ch)] + 1) * 127.5);
        out[4 * p + ch] = Math.min(255, Math.max(0, v));
      }
      out[4 * p + 3] = 255;
    }
    return out;
  }

  // n images for seed (and class): what `ganforge generate RUN -n n --seed seed [--class cls]` writes
  function drawImages(model, n, seed, cls) {
    const labels = model.meta.num_classes ? labelsFor(model, n, cls) : null;
    return drawFrom(model, noise(model, n, seed), n, labels);
  }

  function drawFrom(model, z, n, labels) {
    const images = forward(model, z, n, labels);
    try { return toRGBA(images); } finally { images.dispose(); }
  }

  root.ganforge = { MT19937, randn, randSigned, noise, labelsFor, forward, toRGBA, drawImages, drawFrom };
})(typeof window !== "undefined" ? window : globalThis);
