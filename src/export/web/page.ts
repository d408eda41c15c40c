/**
 * The exported segmentation page (bundled by scripts/build_web.mjs into app.js). Reads the model from
 * model.js (globalThis.PROTOSEG_MODEL), picks WebGL, else WebAssembly, else plain-JS CPU, and says
 * which; segments every image the user picks or drops exactly as `protoseg predict` does
 * (export/run_graph.ts), and shows the colour mask over the image with an opacity slider, a legend of
 * the classes present with their area shares, and a download of the mask. Makes no network request:
 * the WASM binaries are inlined as data: URLs.
 *
 * For automation, `globalThis.protoseg` holds the state: `backend`, `results` (name, size, trainIds,
 * shares per result) and `error`; `document.body.dataset.state` is loading | ready | busy | error.
 */
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import '@tensorflow/tfjs-backend-webgl';
import { setWasmPaths } from '@tensorflow/tfjs-backend-wasm';
import { GraphRunner } from '../run_graph.js';
import { decodeWebModel, type WebModel } from '../web_model.js';

/** The three tfjs WASM binaries as data: URLs, put in by scripts/build_web.mjs. */
declare const PROTOSEG_WASM_FILES: Record<string, string>;

interface ClassShare {
  trainId: number;
  name: string;
  pixels: number;
  share: number;
}

interface SegmentResult {
  name: string;
  width: number;
  height: number;
  trainIds: Uint8Array;
  shares: ClassShare[];
  milliseconds: number;
}

interface PageState {
  backend: string;
  results: SegmentResult[];
  error: string | null;
}

const state: PageState = { backend: '', results: [], error: null };
(globalThis as unknown as { protoseg: PageState }).protoseg = state;

function byId<T extends HTMLElement>(id: string): T {
  const el = document.getElementById(id);
  if (el === null) throw new Error(`index.html: expected an element #${id}`);
  return el as T;
}

function setState(kind: 'loading' | 'ready' | 'busy' | 'error', message: string): void {
  document.body.dataset['state'] = kind;
  const status = byId('status');
  status.textContent = message;
  status.className = kind;
  if (kind === 'error') state.error = message;
}

function webGlAvailable(): boolean {
  try {
    const canvas = document.createElement('canvas');
    return (canvas.getContext('webgl2') ?? canvas.getContext('webgl')) !== null;
  } catch {
    return false;
  }
}

const BACKENDS = ['webgl', 'wasm', 'cpu'] as const;
type BackendName = (typeof BACKENDS)[number];

async function startWasm(): Promise<boolean> {
  if (typeof WebAssembly !== 'object') return false;
  // Threads need cross-origin isolation, which file:// never has; one thread keeps it simple.
  tf.env().set('WASM_HAS_MULTITHREAD_SUPPORT', false);
  setWasmPaths(PROTOSEG_WASM_FILES, true);
  return tf.setBackend('wasm');
}

/**
 * WebGL when the browser has it, else WebAssembly, else CPU (or the one named by ?backend=webgl|wasm|cpu
 * in the page's address); returns a sentence saying which and why.
 */
async function chooseBackend(): Promise<string> {
  const asked = new URLSearchParams(location.search).get('backend');
  if (asked !== null) {
    if (!(BACKENDS as readonly string[]).includes(asked)) throw new Error(`?backend= expected one of ${BACKENDS.join(', ')}, got "${asked}"`);
    const name = asked as BackendName;
    const ok = name === 'wasm' ? await startWasm() : name === 'webgl' ? webGlAvailable() && (await tf.setBackend('webgl')) : await tf.setBackend('cpu');
    if (!ok) throw new Error(`?backend=${name}: this browser cannot start it. Open the page without ?backend= to pick one automatically.`);
    return `${LABELS[name]} (chosen by ?backend=${name})`;
  }
  const missing: string[] = [];
  if (webGlAvailable()) {
    if (await tf.setBackend('webgl')) return LABELS.webgl;
    missing.push('WebGL failed to start');
  } else {
    missing.push('no WebGL');
  }
  if (await startWasm()) return `${LABELS.wasm} (${missing.join(', ')})`;
  missing.push('no WebAssembly');
  await tf.setBackend('cpu');
  return `${LABELS.cpu} (${missing.join(', ')})`;
}

const LABELS: Record<BackendName, string> = { webgl: 'WebGL (GPU)', wasm: 'WebAssembly', cpu: 'CPU, plain JavaScript' };

function describeModel(model: WebModel): string {
  const m = model.metadata;
  const scale = typeof m.networkScale === 'number' ? `scale ${m.networkScale}` : `network size ${m.networkScale.height}x${m.networkScale.width}`;
  const step = m.checkpoint.step === null ? '' : `, step ${m.checkpoint.step}`;
  return `${m.encoder} UNet, ${m.classNames.length} classes, ${scale}, BN statistics: ${m.batchNormStatistics} (${m.checkpoint.file}${step}; protoseg ${m.protosegVersion})`;
}

/** Decoded pixels of an image file, exactly as stored (no colour-profile conversion). */
async function readPixels(file: File): Promise<{ width: number; height: number; rgba: Uint8ClampedArray }> {
  const bitmap = await createImageBitmap(file, { colorSpaceConversion: 'none', premultiplyAlpha: 'none' });
  try {
    const canvas = document.createElement('canvas');
    canvas.width = bitmap.width;
    canvas.height = bitmap.height;
    const ctx = canvas.getContext('2d', { willReadFrequently: true })!;
    ctx.drawImage(bitmap, 0, 0);
    return { width: bitmap.width, height: bitmap.height, rgba: ctx.getImageData(0, 0, bitmap.width, bitmap.height).data };
  } finally {
    bitmap.close();
  }
}

async function segment(runner: GraphRunner, model: WebModel, file: File): Promise<{ result: SegmentResult; rgba: Uint8ClampedArray }> {
  const { width, height, rgba } = await readPixels(file);
  const started = performance.now();
  const rgb = new Float32Array(width * height * 3);
  for (let i = 0, j = 0; i < rgba.length; i += 4, j += 3) {
    rgb[j] = rgba[i]!;
    rgb[j + 1] = rgba[i + 1]!;
    rgb[j + 2] = rgba[i + 2]!;
  }
  const input = tf.tensor4d(rgb, [1, height, width, 3]);
  const ids = runner.segment(input);
  input.dispose();
  const values = await ids.data();
  ids.dispose();
  const trainIds = Uint8Array.from(values);
  const counts = new Array<number>(model.metadata.classNames.length).fill(0);
  for (const id of trainIds) counts[id]!++;
  const shares = counts
    .map((pixels, trainId) => ({ trainId, name: model.metadata.classNames[trainId]!, pixels, share: pixels / trainIds.length }))
    .filter((c) => c.pixels > 0)
    .sort((a, b) => b.pixels - a.pixels || a.trainId - b.trainId);
  return { result: { name: file.name, width, height, trainIds, shares, milliseconds: performance.now() - started }, rgba };
}

function el<K extends keyof HTMLElementTagNameMap>(tag: K, props: Partial<HTMLElementTagNameMap[K]> = {}, children: Array<Node | string> = []): HTMLElementTagNameMap[K] {
  const node = Object.assign(document.createElement(tag), props);
  for (const child of children) node.append(child);
  return node;
}

function colour([r, g, b]: readonly number[]): string {
  return `rgb(${r}, ${g}, ${b})`;
}

/** One result card: image + mask overlay, legend with area shares, mask download. */
function renderResult(result: SegmentResult, rgba: Uint8ClampedArray, model: WebModel, opacity: number): HTMLElement {
  const { width, height } = result;
  const image = el('canvas', { className: 'image', width, height });
  image.getContext('2d')!.putImageData(new ImageData(Uint8ClampedArray.from(rgba), width, height), 0, 0);
  const mask = el('canvas', { className: 'mask', width, height });
  const pixels = new ImageData(width, height);
  const palette = model.metadata.palette;
  result.trainIds.forEach((id, i) => {
    const [r, g, b] = palette[id] ?? [0, 0, 0];
    pixels.data.set([r, g, b, 255], i * 4);
  });
  mask.getContext('2d')!.putImageData(pixels, 0, 0);
  mask.style.opacity = String(opacity);
  // Small images are shown enlarged by a whole factor, so each pixel stays a crisp square.
  const zoom = width < 512 ? Math.max(1, Math.floor(512 / width)) : 1;
  const stack = el('div', { className: 'stack' }, [image, mask]);
  stack.style.width = `${width * zoom}px`;
  stack.style.aspectRatio = `${width} / ${height}`;

  const rows = result.shares.map((c) =>
    el('tr', { className: 'legend-item' }, [
      el('td', {}, [Object.assign(el('span', { className: 'swatch' }), { style: `background: ${colour(palette[c.trainId]!)}` })]),
      el('td', { className: 'class-name', textContent: c.name }),
      el('td', { className: 'share', textContent: c.share < 0.0005 ? '< 0.1 %' : `${(100 * c.share).toFixed(1)} %` }),
    ]),
  );
  const legend = el('table', { className: 'legend' }, [
    el('thead', {}, [el('tr', {}, [el('th', { textContent: '' }), el('th', { textContent: 'class' }), el('th', { textContent: 'area' })])]),
    el('tbody', {}, rows),
  ]);
  const base = result.name.replace(/\.[^.]*$/, '');
  const download = el('a', { className: 'download', textContent: 'Download mask (PNG)', download: `${base}_color.png`, href: '#' });
  mask.toBlob((blob) => {
    if (blob !== null) download.href = URL.createObjectURL(blob);
  }, 'image/png');
  return el('article', { className: 'result' }, [
    el('h2', { textContent: result.name }),
    el('p', { className: 'size', textContent: `${width} x ${height} pixels, segmented in ${result.milliseconds.toFixed(0)} ms on ${state.backend}` }),
    el('div', { className: 'view' }, [stack, el('div', { className: 'side' }, [legend, download])]),
  ]);
}

async function start(): Promise<void> {
  setState('loading', 'Loading the model...');
  let model: WebModel;
  try {
    model = decodeWebModel((globalThis as unknown as { PROTOSEG_MODEL?: unknown }).PROTOSEG_MODEL);
  } catch (error) {
    setState('error', (error as Error).message);
    return;
  }
  byId('model').textContent = describeModel(model);
  state.backend = await chooseBackend();
  byId('backend').textContent = `Running on ${state.backend}.`;
  const runner = new GraphRunner(model.graph, model.pipeline);
  const slider = byId<HTMLInputElement>('opacity');
  const opacity = (): number => Number(slider.value) / 100;
  slider.addEventListener('input', () => {
    for (const mask of document.querySelectorAll<HTMLCanvasElement>('canvas.mask')) mask.style.opacity = String(opacity());
  });
  const results = byId('results');
  let queue = Promise.resolve();
  const handle = (files: FileList | null): void => {
    const images = [...(files ?? [])].filter((f) => f.type.startsWith('image/') || /\.(png|jpe?g|webp|bmp|gif)$/i.test(f.name));
    if (images.length === 0) return;
    queue = queue.then(async () => {
      for (const [k, file] of images.entries()) {
        setState('busy', `Segmenting ${file.name} (${k + 1} of ${images.length})...`);
        try {
          const { result, rgba } = await segment(runner, model, file);
          state.results.push(result);
          results.prepend(renderResult(result, rgba, model, opacity()));
        } catch (error) {
          setState('error', `${file.name}: expected an image the browser can decode, got an error (${(error as Error).message}). Try a PNG or JPEG.`);
          return;
        }
      }
      setState('ready', `Segmented ${state.results.length} image(s). Pick or drop more.`);
    });
  };
  const input = byId<HTMLInputElement>('file');
  input.addEventListener('change', () => handle(input.files));
  document.addEventListener('dragover', (e) => {
    e.preventDefault();
    document.body.classList.add('dragging');
  });
  document.addEventListener('dragleave', () => document.body.classList.remove('dragging'));
  document.addEventListener('drop', (e) => {
    e.preventDefault();
    document.body.classList.remove('dragging');
    handle(e.dataTransfer?.files ?? null);
  });
  setState('ready', 'Pick images or drop them on this page.');
}

void start().catch((error: unknown) => setState('error', `The page failed to start: ${(error as Error).message}`));
