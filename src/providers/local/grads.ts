/**
 * Gradients of the few tfjs kernels that the trainer differentiates through automatically.
 *
 * The Node bundle of @tensorflow/tfjs-core registers no gradients, and its ESM `register_all_gradients` cannot be
 * loaded by Node (directory imports). Everything heavy in model.ts has a hand-written gradient (tf.customGrad); what
 * is left on the autodiff path is the residual Add. Reshape, Transpose, BatchMatMul and Softmax are registered too,
 * for experiments with plain tfjs attention. These configs follow tfjs-core's own; a kernel that already has a
 * gradient is left alone.
 */
import * as tf from "@tensorflow/tfjs-core";
import type * as TF from "@tensorflow/tfjs-core";

type Grads = Record<string, () => TF.Tensor>;

function reduceTo(dy: TF.Tensor, shape: number[]): TF.Tensor {
  const axes = tf.backend_util.getReductionAxes(shape, dy.shape);
  const r = axes.length > 0 ? tf.sum(dy, axes) : dy;
  return tf.reshape(r, shape);
}

let registered = false;

export function registerLocalGradients(): void {
  if (registered) return;
  registered = true;
  const configs: TF.GradConfig[] = [
    {
      kernelName: "Add",
      inputsToSave: ["a", "b"],
      gradFunc: (dy, saved): Grads => {
        const [a, b] = saved;
        const d = dy as TF.Tensor;
        return { a: () => reduceTo(d, a.shape), b: () => reduceTo(d, b.shape) };
      },
    },
    {
      kernelName: "Reshape",
      inputsToSave: ["x"],
      gradFunc: (dy, saved): Grads => ({ x: () => tf.reshape(dy as TF.Tensor, saved[0].shape) }),
    },
    {
      kernelName: "Transpose",
      gradFunc: (dy, _saved, attrs): Grads => {
        const perm = (attrs as { perm: number[] }).perm;
        const inverse = new Array<number>(perm.length);
        perm.forEach((p, i) => {
          inverse[p] = i;
        });
        return { x: () => tf.transpose(dy as TF.Tensor, inverse) };
      },
    },
    {
      kernelName: "BatchMatMul",
      inputsToSave: ["a", "b"],
      gradFunc: (dy, saved, attrs): Grads => {
        const [a, b] = saved;
        const d = dy as TF.Tensor;
        const { transposeA, transposeB } = attrs as { transposeA: boolean; transposeB: boolean };
        if (!transposeA && !transposeB)
          return { a: () => tf.matMul(d, b, false, true), b: () => tf.matMul(a, d, true, false) };
        if (!transposeA && transposeB)
          return { a: () => tf.matMul(d, b, false, false), b: () => tf.matMul(d, a, true, false) };
        if (transposeA && !transposeB)
          return { a: () => tf.matMul(b, d, false, true), b: () => tf.matMul(a, d, false, false) };
        return { a: () => tf.matMul(b, d, true, true), b: () => tf.matMul(d, a, true, true) };
      },
    },
    {
      kernelName: "Softmax",
      outputsToSave: [true],
      gradFunc: (dy, saved, attrs): Grads => {
        const [y] = saved;
        const d = dy as TF.Tensor;
        const { dim } = attrs as { dim: number };
        return { logits: () => tf.mul(tf.sub(d, tf.sum(tf.mul(d, y), [dim], true)), y) };
      },
    },
  ];
  for (const c of configs) if (!tf.getGradient(c.kernelName)) tf.registerGradient(c);
}
