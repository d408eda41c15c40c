/**
 * The config schema: the single source of truth for every key, its type, range, default and meaning.
 * The TypeScript type is inferred from it, the JSON schema is generated from it, and `--set a.b=v`
 * overrides are validated against it. Unknown keys are rejected (strict objects).
 */
import { z } from 'zod';
import { SHIFT_KINDS } from '../data/synth/appearance.js';

const positiveInt = () => z.number().int().positive();
const nonNegativeInt = () => z.number().int().nonnegative();
const probability = () => z.number().min(0).max(1);

export const DATASET_NAMES = ['synthetic', 'cityscapes', 'gta5', 'folder'] as const;
export const METHOD_NAMES = ['pcs', 'pcs-seed', 'source-only', 'source-oracle', 'target-oracle', 'adabn', 'max-squares'] as const;
export type MethodName = (typeof METHOD_NAMES)[number];
export const LOSS_CONFIG_NAMES = [
  'pixelCrossEntropy',
  'cosineCrossEntropy',
  'protoNce',
  'crossDomainEntropy',
  'mimEntropy',
  'mimDiversity',
  'maxSquares',
] as const;
export type LossConfigName = (typeof LOSS_CONFIG_NAMES)[number];
/** Loss terms the default method (pcs) configures under adapt.losses. */
export const ADAPT_LOSS_NAMES = ['pseudoLabel', 'sourcePseudoLabel', 'maskedConsistency', 'protoNce', 'crossDomainEntropy', 'maxSquares'] as const;
export type AdaptLossName = (typeof ADAPT_LOSS_NAMES)[number];
/** Every loss function of the registry (losses/registry.ts). */
export const LOSS_NAMES = [...LOSS_CONFIG_NAMES, 'pseudoLabel', 'sourcePseudoLabel', 'maskedConsistency'] as const;

const domainSchema = (dataset: (typeof DATASET_NAMES)[number]) =>
  z
    .strictObject({
      dataset: z.enum(DATASET_NAMES).default(dataset).describe('dataset layout: synthetic (the built-in benchmark), cityscapes, gta5 or folder (unlabelled images)'),
      root: z.string().min(1).optional().describe('dataset root folder; for synthetic, where the generated benchmark is cached (default .cache/protoseg/benchmark-<hash of data.synthetic>)'),
      trainSplit: z.string().min(1).default('train').describe('split used for training (cityscapes: a split folder; gta5: splits/<name>.txt or a list file path)'),
      valSplit: z.string().min(1).default('val').describe('split used for evaluation'),
      labelType: z.enum(['labelIds', 'labelTrainIds']).default('labelIds').describe('cityscapes only: read _gtFine_labelIds.png (mapped to trainIds) or _gtFine_labelTrainIds.png'),
    })
    .prefault({});

const lossSchema = (enabled: boolean, weight: number, fromEpoch = 0, description = '') =>
  z
    .strictObject({
      enabled: z.boolean().default(enabled).describe('switch this loss on or off (one switch per ablation)'),
      weight: z.number().min(0).max(1000).default(weight).describe('weight of the loss in the total objective'),
      fromEpoch: nonNegativeInt().default(fromEpoch).describe('first adaptation epoch (0-based) in which the loss is active: active when epoch >= fromEpoch'),
      untilEpoch: nonNegativeInt().default(1_000_000).describe('active while epoch < untilEpoch'),
    })
    .prefault({})
    .describe(description);

/** One loss term's switches (pcs.losses.* and adapt.losses.*). */
export type LossTermConfig = z.output<ReturnType<typeof lossSchema>>;

/** A loss term contributes in adaptation epoch `epoch` when enabled, weighted > 0 and epoch in [fromEpoch, untilEpoch). */
export function lossTermActive(loss: LossTermConfig, epoch: number): boolean {
  return loss.enabled && loss.weight > 0 && epoch >= loss.fromEpoch && epoch < loss.untilEpoch;
}

export const configSchema = z.strictObject({
  description: z.string().optional().describe('free text saying what this config is for (ignored by training)'),
  method: z.enum(METHOD_NAMES).default('pcs').describe('pcs: self-training with PCS prototypes on the decoder features (the default); pcs-seed: PCS-seg + max-squares as first built; source-only: few labelled source images only; adabn: source-only with target BN statistics; max-squares: source labels + max-squares on target, no prototypes; source-oracle / target-oracle: all source / target labels (references, analysis only)'),
  seed: nonNegativeInt().default(0).describe('seed of every random choice (init, data order, augmentation, k-means)'),
  backend: z.enum(['auto', 'wasm', 'cpu', 'node', 'native']).default('auto').describe('tensor backend; auto prefers tfjs-node, then the libtorch backend, then wasm'),
  threads: nonNegativeInt().max(256).default(0).describe('intra-op threads of the native backend (0: all cores); use 1 per process when running several trainings at once'),

  data: z
    .strictObject({
      source: domainSchema('synthetic'),
      target: domainSchema('synthetic'),
      synthetic: z
        .strictObject({
          height: positiveInt().multipleOf(32).default(64).describe('image height of the generated benchmark (multiple of 32)'),
          width: positiveInt().multipleOf(32).default(128).describe('image width of the generated benchmark (multiple of 32)'),
          sourceImages: positiveInt().default(300).describe('source train images'),
          targetImages: positiveInt().default(300).describe('target train images'),
          valImages: positiveInt().default(60).describe('val images per domain'),
          seed: nonNegativeInt().default(0).describe('seed of the generated scenes (independent of the training seed)'),
          shift: probability().default(0.5).describe('strength of the source -> target appearance shift (0: none, 1: the full shift of its kind)'),
          shiftKind: z.enum(SHIFT_KINDS).default('realistic').describe('realistic: the target is drawn in another rendering style and colour grade, every class staying nearest its own source look; permuted: every class takes on another class\'s look (a stress test)'),
        })
        .prefault({}),
      fewShot: z
        .strictObject({
          images: positiveInt().default(10).describe('number of labelled source images (k)'),
          mode: z.enum(['coverage', 'random']).default('coverage').describe('coverage: first cover every class, then fill at random; random: uniform'),
          seed: nonNegativeInt().default(0).describe('seed of the labelled-subset draw (vary it to report split variance)'),
          listFile: z.string().min(1).optional().describe('explicit list file of labelled source ids (overrides images/mode/seed)'),
        })
        .prefault({}),
      batchSize: positiveInt().max(256).default(4).describe('images per batch (each domain)'),
      resize: z.tuple([positiveInt(), positiveInt()]).optional().describe('training scale: every image is first resized to [height, width] (e.g. [512, 1024] for Cityscapes); default: native size'),
      crop: z.tuple([positiveInt(), positiveInt()]).optional().describe('random crop [height, width] for training; default: whole image'),
      scaleRange: z.tuple([z.number().positive(), z.number().positive()]).default([1, 1]).describe('random rescale range before cropping'),
      flip: z.boolean().default(true).describe('random horizontal flip'),
      prefetch: positiveInt().max(64).default(2).describe('batches decoded ahead (bounds memory)'),
    })
    .prefault({}),

  model: z
    .strictObject({
      encoder: z
        .strictObject({
          name: z.string().min(1).default('scratch').describe('encoder name from the registry: scratch or mobilenetv2'),
          widths: z.array(positiveInt()).min(2).max(8).default([8, 16, 32, 64, 128]).describe('scratch encoder: channels per stage'),
          pretrained: z.boolean().default(true).describe('mobilenetv2: load the ImageNet weights shipped in the nsfwjs package'),
        })
        .prefault({}),
      decoderWidths: z.array(positiveInt()).min(1).max(8).optional().describe('decoder channels per level (default: mirrors the encoder)'),
      embeddingDim: positiveInt().max(4096).default(64).describe('D, the projection-head output size'),
      projectionStride: z.union([z.literal(4), z.literal(8), z.literal(16), z.literal(32)]).default(8).describe('encoder level (stride) the projection head and cosine classifier read'),
      temperature: z.number().positive().max(10).default(0.05).describe('cosine-classifier temperature T (logit scale 1/T)'),
    })
    .prefault({}),

  optimizer: z
    .strictObject({
      name: z.enum(['adam', 'sgd']).default('adam').describe('adam, or sgd with (Nesterov) momentum'),
      lr: z.number().positive().max(10).default(1e-2).describe('base learning rate'),
      momentum: probability().default(0.9).describe('sgd momentum'),
      nesterov: z.boolean().default(true).describe('sgd: Nesterov momentum'),
      beta1: probability().default(0.9).describe('adam beta1'),
      beta2: probability().default(0.999).describe('adam beta2'),
      weightDecay: z.number().min(0).max(1).default(1e-4).describe('L2 weight decay; never applied to batch-norm parameters'),
      adaptLrMultiplier: z.number().positive().max(10).default(0.3).describe('learning rate of the adaptation phase = lr x this (its schedule restarts after the warm-up; 0.3 chosen on the development benchmark, docs/method.md)'),
      headLrMultiplier: z.number().positive().max(100).default(1).describe('lr multiplier of the decoder output layer, projection head and classifier'),
      schedule: z.enum(['poly', 'constant', 'inverse']).default('poly').describe('poly: lr*(1-t/T)^power; inverse: lr*(1+1e-4 t)^-0.75 (PCS); constant'),
      power: z.number().positive().max(10).default(0.9).describe('poly schedule power'),
    })
    .prefault({}),

  train: z
    .strictObject({
      steps: positiveInt().default(300).describe('warm-up on the labelled source images (the source-only baseline every adapting method starts from): optimisation steps'),
      oracleSteps: positiveInt().default(3000).describe('target-oracle / source-oracle: optimisation steps of their own, longer schedule (long enough to converge: see docs/method.md)'),
      epochs: nonNegativeInt().default(14).describe('adapting methods (pcs, pcs-seed, max-squares): adaptation epochs after the warm-up (14 x 100 iterations, chosen on the development benchmarks over 10 x 100 (docs/method.md stage 8), keeps `npm start` under 10 minutes on the native backend)'),
      stepsPerEpoch: positiveInt().default(100).describe('adapting methods: iterations per adaptation epoch'),
      logEvery: positiveInt().default(10).describe('steps between metrics.jsonl lines'),
      checkpointEvery: positiveInt().default(50).describe('steps between checkpoints (a kill loses at most this many)'),
      evalEvery: nonNegativeInt().default(0).describe('warm-up: steps between evaluations (source val, and target val for the curves; 0: only at its end); adaptation evaluates at every epoch end'),
      warmupAugment: z.boolean().default(false).describe('warm-up: apply the strong photometric augmentation of adapt.augment to the labelled images too (the "source-only with the same augmentation" reference; off: flip only, the baseline the adapting methods start from)'),
      selection: z.enum(['source-val', 'none']).default('source-val').describe('split the "best" checkpoint is chosen on; never the target labels'),
      reuseBaseline: z.boolean().default(true).describe('methods that start from the source-only warm-up: reuse a cached one with the same data/model/optimizer/seed, backend and native thread count instead of training it again'),
    })
    .prefault({}),

  pcs: z
    .strictObject({
      minCells: positiveInt().default(4).describe('cells an (image, class) region needs to become an instance'),
      purity: probability().default(0.5).describe('cell label = majority label when its share >= purity, else ignore'),
      bankMomentum: probability().default(0.5).describe('memory-bank momentum m'),
      labelledBankMomentum: probability().default(0.9).describe('memory-bank momentum of labelled source rows'),
      kList: z.array(z.number().int().min(2).max(1000)).min(1).max(8).default([19, 38]).describe('k of each k-means run per domain'),
      kmeansIterations: positiveInt().max(1000).default(40).describe('Lloyd iterations per k-means run'),
      kmeansInit: z.enum(['warm', 'random']).default('warm').describe('warm: label-mean centroids (report step 3); random: k-means++ (ablation)'),
      crossTemperature: z.number().positive().max(10).default(0.1).describe('tau of the cross-domain entropy'),
      phiFloor: z.number().positive().max(10).default(0.05).describe('lower clamp of the per-cluster concentration phi'),
      sourceThreshold: probability().default(0.95).describe('instance confidence for a source pseudo-label'),
      targetThreshold: probability().default(0.95).describe('instance confidence for a target pseudo-label'),
      apcl: z
        .strictObject({
          enabled: z.boolean().default(true).describe('load bank prototypes into the cosine classifier at each epoch start'),
          gateEpoch: nonNegativeInt().default(1).describe('first epoch in which target prototypes may replace source ones'),
          minTargetRows: positiveInt().default(50).describe('confident target instances a class needs for its target prototype'),
        })
        .prefault({}),
      losses: z
        .strictObject({
          pixelCrossEntropy: lossSchema(true, 1, 0, 'few-shot pixel cross-entropy on labelled source images'),
          cosineCrossEntropy: lossSchema(true, 1, 0, 'cell-level cosine-classifier cross-entropy on labelled source cells'),
          protoNce: lossSchema(true, 1, 0, 'in-domain prototypical NCE with per-cluster concentration'),
          crossDomainEntropy: lossSchema(true, 1, 0, 'entropy of instance assignments to the other domain\'s centroids'),
          mimEntropy: lossSchema(false, 0.05, 0, 'MIM conditional entropy on unlabelled instances'),
          mimDiversity: lossSchema(true, 0.05, 0, 'MIM diversity (running class marginal) on target instances'),
          maxSquares: lossSchema(true, 0.1, 0, 'max-squares on the target decoder softmax'),
        })
        .prefault({}),
      maxSquaresMode: z.enum(['plain', 'iw']).default('plain').describe('plain, or image-wise class-balanced (IW) max-squares'),
      maxSquaresRatio: probability().default(0.2).describe('alpha of the IW weighting'),
    })
    .prefault({}),

  adapt: z
    .strictObject({
      domainStatistics: z.boolean().default(true).describe('pcs: separate BN statistics per domain (source batches use and update the source ones, target batches the target ones, estimated from the target train images before adapting); target data is evaluated and predicted with the target ones'),
      teacher: z
        .strictObject({
          enabled: z.boolean().default(true).describe('pcs: pseudo-labels from an EMA teacher (off: from the student itself, eval mode)'),
          momentum: z.number().min(0).max(0.99999).default(0.99).describe('EMA momentum of the teacher (warmed up as min(1 - 1/(t+1), momentum))'),
          flip: z.boolean().optional().describe('pcs: the teacher\'s class probabilities are the mean of its passes on the target image and on its mirror image (flipped back): one more teacher pass per iteration (absent = false)'),
        })
        .prefault({}),
      pseudoLabel: z
        .strictObject({
          threshold: probability().default(0.9).describe('teacher confidence a pixel needs to count as confident'),
          classQuantile: probability().default(0).describe('class-wise thresholds (class-balanced self-training): per class the running quantile of the confidences of the pixels predicted as it, capped at threshold (0: one threshold for every class)'),
          weighting: z.enum(['image', 'pixel', 'none']).default('image').describe('confidence weight of pseudo-labelled pixels: image = the share of confident pixels of the image (DAFormer), pixel = 1 if confident else 0, none = 1'),
        })
        .prefault({}),
      rareClassSampling: z
        .strictObject({
          temperature: z.number().positive().default(0.01).describe('T of p(class) = softmax((1 - pixel share) / T); smaller draws the rarest classes more often (DAFormer: 0.01)'),
        })
        .optional()
        .describe('draw the labelled source images of adaptation (the supervised batch; for pcs also the ClassMix source) by rare-class sampling (DAFormer), with replacement; absent = a shuffle (the warm-up always shuffles). Set it with --set adapt.rareClassSampling={}'),
      classMix: z.boolean().default(true).describe('pcs: paste half of the classes of a labelled source image onto each target image (ground truth there, pseudo-labels elsewhere)'),
      augment: z
        .strictObject({
          enabled: z.boolean().default(true).describe('pcs: strong photometric augmentation of the student\'s (mixed) target inputs (on since session 8, with source=false: on the development benchmarks it gains 12.0 where class colours are permuted and costs 3.7 on the realistic one; augmenting the labelled source images too costs 11.5 there: docs/method.md, stages 3-6; the keys below also drive train.warmupAugment)'),
          source: z.boolean().default(false).describe('also augment the labelled source images of the source step (off by default: docs/method.md, stages 4-5)'),
          jitterProbability: probability().default(0.8).describe('probability of colour jitter per image'),
          brightness: probability().default(0.4).describe('brightness factor range 1 +- this'),
          contrast: probability().default(0.4).describe('contrast factor range 1 +- this'),
          saturation: probability().default(0.4).describe('saturation factor range 1 +- this'),
          hue: z.number().min(0).max(0.5).default(0.1).describe('hue rotation of up to this many turns'),
          greyProbability: probability().default(0.2).describe('probability of turning an image grey'),
          blurProbability: probability().default(0.5).describe('probability of a Gaussian blur'),
          blurSigma: z.tuple([z.number().positive(), z.number().positive()]).default([0.2, 1.2]).describe('blur sigma range in pixels'),
          noiseProbability: probability().default(0.5).describe('probability of additive Gaussian noise'),
          noise: z.number().min(0).max(1).default(0.03).describe('noise standard deviation (0..1 intensity units)'),
        })
        .prefault({}),
      fda: z
        .strictObject({
          enabled: z.boolean().default(false).describe('pcs: FDA (Yang & Soatto 2020): give the labelled source images a target image\'s low-frequency amplitude spectrum'),
          beta: z.number().positive().max(0.5).default(0.05).describe('size of the swapped low-frequency window, as a share of the shorter image side'),
        })
        .prefault({}),
      rectify: z
        .strictObject({
          enabled: z.boolean().default(false).describe('pcs: rectify the teacher\'s pseudo-labels with the target class prototypes (k-means centroids of the decoder-feature memory bank; ProDA); off by default: it cost target mIoU on the development benchmark (docs/method.md)'),
          temperature: z.number().positive().max(10).default(0.1).describe('temperature of the prototype softmax over cosine similarities'),
        })
        .prefault({}),
      mask: z
        .strictObject({
          patchSize: positiveInt().max(512).default(8).describe('masked consistency: side of the square patches in pixels (MIC: 64 on 512-pixel crops; 8 on the 64 x 128 benchmark)'),
          ratio: probability().default(0.7).describe('masked consistency: probability that a patch is blanked (MIC: 0.7)'),
        })
        .prefault({}),
      regionThreshold: probability().default(0.9).describe('teacher confidence a target pixel needs to join an instance region (memory bank, prototype losses)'),
      losses: z
        .strictObject({
          pseudoLabel: lossSchema(true, 1, 0, 'confidence-weighted pixel cross-entropy on (mixed) target images against the teacher\'s pseudo-labels'),
          sourcePseudoLabel: lossSchema(false, 1, 0, 'self-training on the unlabelled source images: confidence-weighted pixel cross-entropy against the teacher\'s pseudo-labels (source statistics; an image of the labelled subset keeps its ground truth); adds a batch of source train images to every iteration'),
          maskedConsistency: lossSchema(false, 1, 0, 'masked image consistency (MIC): confidence-weighted pixel cross-entropy of the student on the target images with most patches blanked (adapt.mask) against the teacher\'s pseudo-labels of the whole images (target statistics); one more student pass per iteration'),
          protoNce: lossSchema(true, 0.1, 0, 'in-domain prototypical NCE of the student\'s decoder-feature instances against the target clusters'),
          crossDomainEntropy: lossSchema(true, 0.1, 0, 'entropy of the student\'s instance assignments to the other domain\'s centroids (decoder features)'),
          maxSquares: lossSchema(false, 0.1, 0, 'max-squares on the student\'s target softmax'),
        })
        .prefault({}),
    })
    .prefault({})
    .describe('the default method (pcs): self-training with an EMA teacher, ClassMix, strong augmentation of the target inputs, per-domain BN statistics, and PCS prototypes on the decoder features (protoNce, cross-domain entropy; optionally rectifying the pseudo-labels); pcs.kList / kmeansInit / kmeansIterations / minCells / bankMomentum / phiFloor / crossTemperature set the prototype machinery'),

  distributed: z
    .strictObject({
      syncBatchNorm: z.boolean().default(true).describe('data-parallel runs (more than one rank): batch norm uses the statistics of the global batch, every rank\'s images together, so N ranks train as one process with the whole batch (off: each rank normalises with its own shard\'s statistics, and rank 0\'s moving statistics are copied to every rank after each step, as in PyTorch DDP)'),
      replicaCheckEvery: nonNegativeInt().default(0).describe('data-parallel debug mode: every this many steps, check that every rank holds bitwise the same weights, optimiser state, EMA teacher, memory banks and run state (a hash per tensor); fails naming the first that differs (0: off)'),
      bucketMiB: z.number().positive().max(1024).default(25).describe('data-parallel: gradients are averaged in buckets of about this many MiB, one collective each (PyTorch DDP\'s bucket_cap_mb)'),
    })
    .prefault({})
    .describe('data-parallel training over several processes and machines (protoseg train --nproc-per-node N); ignored in one process'),

  eval: z
    .strictObject({
      batchSize: positiveInt().max(256).default(4).describe('images per batch of the no-grad memory-bank initialisation pass (evaluation itself runs one image at a time)'),
      scale: z.number().positive().max(4).default(1).describe('network input scale relative to the image (output resized back)'),
      maxImages: nonNegativeInt().default(0).describe('evaluate at most this many images per split (0: all)'),
    })
    .prefault({}),
});

/** The resolved config (every default filled in). */
export type Config = z.output<typeof configSchema>;
/** What a user may write (everything optional). */
export type ConfigInput = z.input<typeof configSchema>;

/** The JSON schema of the config (defaults and descriptions included). */
export function configJsonSchema(): unknown {
  return z.toJSONSchema(configSchema, { io: 'input', unrepresentable: 'any' });
}
