/**
 * The web export's model file (model.js): `globalThis.PROTOSEG_MODEL = {...}`, loaded by a plain
 * <script> tag so the page works from file:// (where fetch() of local files is blocked). It holds the
 * metadata, the predict pipeline, the export graph, and the weights as one base64 float32 buffer.
 * Browser-safe: the page decodes it with decodeWebModel.
 */
import type { ExportGraph, ExportMetadata, ExportPipeline, ExportWeight } from './graph.js';

export const WEB_MODEL_FORMAT = 'protoseg-web-model';
export const WEB_MODEL_VERSION = 1;

export interface WebModelFile {
  format: typeof WEB_MODEL_FORMAT;
  version: number;
  metadata: ExportMetadata;
  pipeline: ExportPipeline;
  graph: Omit<ExportGraph, 'weights'> & { weights: Record<string, { shape: number[]; offset: number; length: number }> };
  /** All weights, float32 little-endian, back to back (offsets and lengths in values). */
  weightsBase64: string;
}

export interface WebModel {
  metadata: ExportMetadata;
  pipeline: ExportPipeline;
  graph: ExportGraph;
}

/** Lays the weights out in one buffer; the caller base64-encodes it. */
export function packWeights(graph: ExportGraph): { index: WebModelFile['graph']['weights']; data: Float32Array } {
  const index: WebModelFile['graph']['weights'] = {};
  let offset = 0;
  for (const [name, w] of Object.entries(graph.weights)) {
    index[name] = { shape: w.shape, offset, length: w.data.length };
    offset += w.data.length;
  }
  const data = new Float32Array(offset);
  for (const [name, w] of Object.entries(graph.weights)) data.set(w.data, index[name]!.offset);
  return { index, data };
}

/** Checks and unpacks a model file's object. Throws an Error naming what is wrong. */
export function decodeWebModel(file: unknown): WebModel {
  const f = file as Partial<WebModelFile> | undefined;
  if (f === undefined || f === null || f.format !== WEB_MODEL_FORMAT) {
    throw new Error(`model.js: expected a ${WEB_MODEL_FORMAT} object in PROTOSEG_MODEL, got ${f === undefined ? 'nothing' : typeof f}. Keep model.js next to index.html, as protoseg export --format web wrote it.`);
  }
  if (f.version !== WEB_MODEL_VERSION) {
    throw new Error(`model.js: expected format version ${WEB_MODEL_VERSION}, got ${String(f.version)}. Export the model again with this protoseg version.`);
  }
  const binary = atob(f.weightsBase64 ?? '');
  const bytes = new Uint8Array(binary.length);
  for (let i = 0; i < binary.length; i++) bytes[i] = binary.charCodeAt(i);
  const view = new DataView(bytes.buffer);
  const weights: Record<string, ExportWeight> = {};
  for (const [name, entry] of Object.entries(f.graph!.weights)) {
    if ((entry.offset + entry.length) * 4 > bytes.length) throw new Error(`model.js: weight "${name}" lies outside the weight data (the file is truncated). Export the model again.`);
    const data = new Float32Array(entry.length);
    for (let i = 0; i < entry.length; i++) data[i] = view.getFloat32((entry.offset + i) * 4, true);
    weights[name] = { shape: entry.shape, data };
  }
  return { metadata: f.metadata!, pipeline: f.pipeline!, graph: { ...f.graph!, weights } };
}
