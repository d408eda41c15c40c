/**
 * The network size rule of prediction and evaluation (see eval/network_input.ts), in a module without
 * tensor or Node imports so the exported web page runs the very same function in the browser.
 */
import { ProtosegError } from '../errors.js';

/**
 * A factor of the original size (0.5 = Cityscapes 2048x1024 -> 1024x512), or an explicit size. Either
 * way each side is rounded to the nearest multiple of the model's output stride (at least one stride).
 */
export type NetworkScale = number | { height: number; width: number };

/** The size the network runs at for an image of height x width (see NetworkScale). */
export function networkSize(height: number, width: number, scale: NetworkScale | undefined, stride: number): { height: number; width: number } {
  if (!Number.isInteger(stride) || stride < 1) {
    throw new ProtosegError('PROTOSEG_CONFIG_INVALID', `network scale: expected stride a positive integer (the model's output stride, e.g. 32), got ${stride}.`);
  }
  const target = typeof scale === 'object' ? scale : { height: height * (scale ?? 1), width: width * (scale ?? 1) };
  if (!(target.height > 0 && target.width > 0 && Number.isFinite(target.height) && Number.isFinite(target.width))) {
    throw new ProtosegError('PROTOSEG_CONFIG_INVALID', `network scale: expected a positive scale (factor or {height, width}), got ${JSON.stringify(scale)}.`);
  }
  const round = (v: number): number => Math.max(stride, Math.round(v / stride) * stride);
  return { height: round(target.height), width: round(target.width) };
}
