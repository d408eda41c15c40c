/**
 * `--format web`: a self-contained static folder. index.html and app.js (the page, TensorFlow.js with
 * its WebGL, WASM and CPU backends, the WASM binaries inlined) are built once by `npm run build`
 * (scripts/build_web.mjs, from src/export/web/) into dist/export/web/ and copied; model.js is written
 * per export. Everything loads through <script> tags, so the page works from file:// and from any
 * static server without a single network request.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ProtosegError } from '../errors.js';
import { writeFileAtomic } from '../atomic_file.js';
import type { ExportGraph, ExportPipeline } from './graph.js';
import type { ExportMetadata } from './metadata.js';
import { WEB_MODEL_FORMAT, WEB_MODEL_VERSION, packWeights, type WebModelFile } from './web_model.js';

/** The files of a web export, in the order they are written. */
export const WEB_FILES = ['model.js', 'app.js', 'index.html'] as const;

/** Where `npm run build` puts the page (index.html, app.js). */
export function webAssetsDir(): string {
  return fileURLToPath(new URL('./web/', import.meta.url));
}

/** The refusals of the web format: what TensorFlow.js (the page's runtime) cannot run. */
export function checkWebSupport(graph: ExportGraph): void {
  for (const node of graph.nodes) {
    if (node.op === 'conv' && node.stride > 1 && node.dilation > 1) {
      throw new ProtosegError(
        'PROTOSEG_EXPORT_UNSUPPORTED',
        `export --format web: layer "${node.layer}" is a ${node.depthwise ? 'depthwise ' : ''}convolution with stride ${node.stride} and dilation ${node.dilation}, which TensorFlow.js (the page's runtime) cannot run. ` +
          'Use --format onnx, or a model with stride 1 or dilation 1 in that layer.',
      );
    }
  }
}

/** The model.js source for a graph. */
export function webModelSource(graph: ExportGraph, pipeline: ExportPipeline, metadata: ExportMetadata): string {
  const { index, data } = packWeights(graph);
  const { weights: _weights, ...structure } = graph;
  const file: WebModelFile = {
    format: WEB_MODEL_FORMAT,
    version: WEB_MODEL_VERSION,
    metadata,
    pipeline,
    graph: { ...structure, weights: index },
    weightsBase64: Buffer.from(data.buffer, data.byteOffset, data.byteLength).toString('base64'),
  };
  return `/* protoseg web model, written by \`protoseg export --format web\` (protoseg ${metadata.protosegVersion}). */\nglobalThis.PROTOSEG_MODEL = ${JSON.stringify(file)};\n`;
}

/** Writes index.html, app.js and model.js into outDir (created if needed; other files are left alone). */
export function writeWebExport(outDir: string, graph: ExportGraph, pipeline: ExportPipeline, metadata: ExportMetadata): string[] {
  checkWebSupport(graph);
  const assets = webAssetsDir();
  for (const name of ['index.html', 'app.js']) {
    if (!existsSync(join(assets, name))) {
      throw new ProtosegError('PROTOSEG_INTERNAL', `export --format web: expected the page bundle ${join(assets, name)}, got no such file. Run "npm run build" in the protoseg checkout (it bundles the page with esbuild).`);
    }
  }
  const written: string[] = [];
  const put = (name: string, contents: string | Buffer): void => {
    const path = join(outDir, name);
    writeFileAtomic(path, contents);
    written.push(path);
  };
  put('model.js', webModelSource(graph, pipeline, metadata));
  put('app.js', readFileSync(join(assets, 'app.js')));
  put('index.html', readFileSync(join(assets, 'index.html')));
  return written;
}
