/**
 * `protoseg export`: the evaluated network of a run or checkpoint as an ONNX file (--format onnx) or
 * as a static web page that segments images offline in the browser (--format web). A thin layer over
 * export/export_model.ts; the model is loaded as `predict` loads it.
 */
import { basename, resolve } from 'node:path';
import { ProtosegError, unknownName } from '../../errors.js';
import { requireStringFlag, stringFlag, type CommandSpec, type ParsedCommand } from '../command.js';
import { loadCliModel, modelSourceFromFlags, type ModelSourceOptions } from './eval.js';
import { EXPORT_FORMATS, type ExportFormat } from '../../export/graph.js';
import { parseScale } from './predict.js';

export interface ExportCliOptions extends ModelSourceOptions {
  format: ExportFormat;
  out: string;
  /** Network scale baked into the graph; default the config's eval.scale. */
  scale?: number | { height: number; width: number };
  quiet: boolean;
}

export function exportOptionsFromFlags(parsed: ParsedCommand): ExportCliOptions {
  const source = modelSourceFromFlags(parsed, 'export', true);
  const formatRaw = requireStringFlag(parsed, 'export', 'format');
  if (!(EXPORT_FORMATS as readonly string[]).includes(formatRaw)) {
    throw new ProtosegError('PROTOSEG_USAGE', unknownName('protoseg export --format', formatRaw, EXPORT_FORMATS).message);
  }
  const out = resolve(requireStringFlag(parsed, 'export', 'out'));
  const scaleRaw = stringFlag(parsed, 'scale');
  let scale: ExportCliOptions['scale'];
  if (scaleRaw !== undefined) {
    try {
      scale = parseScale(scaleRaw);
    } catch (error) {
      throw new ProtosegError('PROTOSEG_USAGE', (error as Error).message.replace('protoseg predict:', 'protoseg export:'));
    }
  }
  return { ...source, format: formatRaw as ExportFormat, out, ...(scale !== undefined ? { scale } : {}), quiet: parsed.values['quiet'] === true };
}

function megabytes(bytes: number): string {
  return `${(bytes / 1e6).toFixed(1)} MB`;
}

export async function runExport(o: ExportCliOptions): Promise<number> {
  const log = o.quiet ? () => {} : (line: string) => console.log(line);
  const { checkExportOut, exportModel } = await import('../../export/export_model.js');
  // Checked before the model loads, so a wrong --out fails at once.
  checkExportOut(o.format, o.out);
  const loaded = await loadCliModel(o, (line) => console.error(`warning: ${line}`));
  try {
    const result = exportModel(loaded.model, {
      format: o.format,
      out: o.out,
      scale: o.scale ?? loaded.config.eval.scale,
      config: loaded.config,
      checkpoint: { file: basename(loaded.checkpointPath), step: loaded.state.step ?? null },
    });
    const m = result.metadata;
    const scale = typeof m.networkScale === 'number' ? `scale ${m.networkScale}` : `network size ${m.networkScale.height}x${m.networkScale.width}`;
    log(`model: ${loaded.checkpointPath} (step ${loaded.state.step ?? '?'}), ${m.encoder} UNet, ${result.parameters} weights after BN folding, BN statistics: ${m.batchNormStatistics}`);
    log(`graph check: max |exported - model| = ${result.check.maxAbsDifference.toExponential(2)} on a ${result.check.size.join('x')} probe (logits up to ${result.check.maxAbsLogit.toFixed(2)})`);
    if (o.format === 'onnx') {
      log(
        `protoseg export: wrote ${o.out} (${megabytes(result.bytes)}, ONNX opset 13): input "images" float32 [N, H, W, 3] RGB 0-255 -> ` +
          `"logits" float32 [N, H, W, 19], "trainIds" int32 [N, H, W]; normalisation (${m.inputNormalization}) and resizing (${scale}, multiples of ${m.outputStride}) are in the graph`,
      );
    } else {
      log(`protoseg export: wrote ${result.files.map((f) => basename(f)).join(', ')} (${megabytes(result.bytes)}) to ${o.out}; open ${resolve(o.out, 'index.html')} in a browser (works offline, from file:// too)`);
    }
    return 0;
  } finally {
    loaded.model.dispose();
  }
}

export const exportCommand: CommandSpec = {
  name: 'export',
  summary:
    'Writes the evaluated network (normalisation, target-domain BN statistics and predict\'s resizing baked in) as an ONNX\n' +
    'file (--format onnx: input "images" float32 [N, H, W, 3] RGB 0-255, outputs "logits" [N, H, W, 19] and "trainIds" int32\n' +
    '[N, H, W]) or as a static web page that segments images offline in the browser (--format web: index.html, app.js, model.js).',
  flags: {
    checkpoint: { type: 'string', argument: 'FILE', description: 'checkpoint file' },
    run: { type: 'string', argument: 'RUN_DIR', description: 'run directory (instead of --checkpoint; see --which)' },
    which: { type: 'string', argument: 'best|latest', description: 'with --run: which checkpoint (default best, falling back to latest)' },
    format: { type: 'string', argument: 'onnx|web', description: 'what to write (required)' },
    out: { type: 'string', argument: 'PATH', description: 'onnx: the .onnx file; web: the folder (required; created if needed)' },
    scale: { type: 'string', argument: 'S|HxW', description: 'network scale factor or size baked into the graph (default: the config\'s eval.scale)' },
    backend: { type: 'string', argument: 'NAME', description: 'tensor backend for loading and checking (default: the one in the checkpoint\'s config)' },
  },
  async run(parsed) {
    return runExport(exportOptionsFromFlags(parsed));
  },
};
