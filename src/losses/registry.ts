/**
 * Every loss of protoseg by name. `lossRegistry` must hold exactly one entry per name in `lossNames`
 * (checked by the compiler through `satisfies`), so a name without an entry does not compile, and
 * config validation can list the valid names (checkLossName).
 */
import type * as tf from '@tensorflow/tfjs-core';
import { z } from 'zod';
import { LOSS_NAMES } from '../config/schema.js';
import { ConfigError, unknownName } from '../errors.js';
import { cosineCrossEntropyLoss } from './cosine_cross_entropy_loss.js';
import { crossDomainEntropyLoss } from './cross_domain_entropy_loss.js';
import { maxSquaresLoss, MAX_SQUARES_MODES } from './max_squares_loss.js';
import { mimDiversityLoss, mimEntropyLoss } from './mim_loss.js';
import { pixelCrossEntropyLoss } from './pixel_cross_entropy_loss.js';
import { protoNceLoss } from './proto_nce_loss.js';
import { pseudoLabelLoss } from './pseudo_label_loss.js';

/** The loss names: the config schema's list, so the config and the registry cannot drift apart. */
export const lossNames = LOSS_NAMES;

export type LossName = (typeof lossNames)[number];

export interface LossSpec<Inputs, Options> {
  /** The pure loss function. */
  fn: (inputs: Inputs, options?: Options) => tf.Scalar;
  /** One line: what the loss does and where it is applied. */
  description: string;
  /** algorithm.md section the formula comes from. */
  section: string;
  /** Input fields the caller must provide. */
  requiredInputs: readonly (keyof Inputs & string)[];
  /** Input fields the caller may provide. */
  optionalInputs: readonly (keyof Inputs & string)[];
  /** Strict schema of the options (all optional; the function holds the defaults). */
  optionsSchema: z.ZodType<Options>;
}

// Only for the completeness check below; each entry keeps its precise type through defineLoss.
// eslint-disable-next-line @typescript-eslint/no-explicit-any
type AnyLossSpec = LossSpec<any, any>;

/** Infers Inputs/Options from the function so each entry is checked against its loss. */
function defineLoss<Inputs, Options>(spec: LossSpec<Inputs, Options>): LossSpec<Inputs, Options> {
  return spec;
}

/** The registry entry of pseudoLabelLoss under one of its uses. */
function pixelPseudoLabelLoss(description: string, section: string) {
  return defineLoss({
    fn: pseudoLabelLoss,
    description,
    section,
    requiredInputs: ['logits', 'labels', 'weights'],
    optionalInputs: [],
    optionsSchema: z.strictObject({ ignoreIndex: z.number().int().optional(), checkLabels: z.boolean().optional() }),
  });
}

const crossEntropyOptions = z.strictObject({
  ignoreIndex: z.number().int().optional(),
  classWeights: z.array(z.number().nonnegative()).optional(),
  checkLabels: z.boolean().optional(),
});

const registry = {
  pixelCrossEntropy: defineLoss({
    fn: pixelCrossEntropyLoss,
    description: 'few-shot pixel cross-entropy of the decoder logits on labelled source pixels (ignore 255)',
    section: 'b.6',
    requiredInputs: ['logits', 'labels'],
    optionalInputs: [],
    optionsSchema: crossEntropyOptions,
  }),
  cosineCrossEntropy: defineLoss({
    fn: cosineCrossEntropyLoss,
    description: 'cosine-classifier cross-entropy on labelled source cells (cell labels from downsampleLabels)',
    section: 'b.1',
    requiredInputs: ['logits', 'labels'],
    optionalInputs: [],
    optionsSchema: crossEntropyOptions,
  }),
  protoNce: defineLoss({
    fn: protoNceLoss,
    description: 'in-domain prototypical NCE against the same domain\'s k-means centroids, per-cluster concentration phi',
    section: 'b.2',
    requiredInputs: ['embeddings', 'runs'],
    optionalInputs: [],
    optionsSchema: z.strictObject({ concentrationFloor: z.number().positive().optional() }),
  }),
  crossDomainEntropy: defineLoss({
    fn: crossDomainEntropyLoss,
    description: 'entropy of the soft assignment of instances to the other domain\'s centroids (tau = 0.1)',
    section: 'b.3',
    requiredInputs: ['embeddings', 'centroids'],
    optionalInputs: [],
    optionsSchema: z.strictObject({ temperature: z.number().positive().optional() }),
  }),
  mimEntropy: defineLoss({
    fn: mimEntropyLoss,
    description: 'MIM conditional entropy of the classifier probabilities of unlabelled instances',
    section: 'b.4',
    requiredInputs: ['probs'],
    optionalInputs: [],
    optionsSchema: z.strictObject({ epsilon: z.number().positive().optional() }),
  }),
  mimDiversity: defineLoss({
    fn: mimDiversityLoss,
    description: 'MIM diversity: batch-mean probabilities against the running class marginal (updateClassMarginal)',
    section: 'b.4',
    requiredInputs: ['probs', 'classMarginal'],
    optionalInputs: [],
    optionsSchema: z.strictObject({ epsilon: z.number().positive().optional() }),
  }),
  maxSquares: defineLoss({
    fn: maxSquaresLoss,
    description: 'max-squares on the target decoder softmax, plain or image-wise class-balanced (iw)',
    section: 'e.1, e.2',
    requiredInputs: ['probs'],
    optionalInputs: ['mask'],
    optionsSchema: z.strictObject({
      mode: z.enum(MAX_SQUARES_MODES).optional(),
      ratio: z.number().min(0).max(1).optional(),
    }),
  }),
  // One loss function, three uses: adapt.losses names each, so each is a registry name.
  pseudoLabel: pixelPseudoLabelLoss('confidence-weighted pixel cross-entropy of the student on (mixed) target images against the teacher\'s pseudo-labels', 'DACS / DAFormer self-training (docs/method.md)'),
  sourcePseudoLabel: pixelPseudoLabelLoss('pseudoLabel on the unlabelled source images: the teacher\'s pseudo-labels with the source statistics, ground truth on the labelled subset\'s images', 'semi-supervised self-training on the source (docs/method.md)'),
  maskedConsistency: pixelPseudoLabelLoss('pseudoLabel of the student on patch-masked target images against the teacher\'s pseudo-labels of the whole images (MIC)', 'MIC masked image consistency (docs/method.md)'),
} satisfies { [N in LossName]: AnyLossSpec };

export type LossRegistry = typeof registry;
export const lossRegistry: LossRegistry = registry;

export type LossInputs<N extends LossName> = Parameters<LossRegistry[N]['fn']>[0];
export type LossOptions<N extends LossName> = NonNullable<Parameters<LossRegistry[N]['fn']>[1]>;

/** Narrows a config string to a LossName, or throws PROTOSEG_UNKNOWN_NAME listing the valid names. */
export function checkLossName(name: string, where = 'loss name'): LossName {
  if ((lossNames as readonly string[]).includes(name)) return name as LossName;
  throw unknownName(where, name, lossNames);
}

/**
 * Validates options (e.g. read from a config file) against the loss's schema; throws ConfigError
 * (PROTOSEG_CONFIG_INVALID) naming the loss and the offending key.
 */
export function parseLossOptions<N extends LossName>(name: N, options: unknown): LossOptions<N> {
  const spec = lossRegistry[checkLossName(name)] as unknown as LossSpec<unknown, LossOptions<N>>;
  const result = spec.optionsSchema.safeParse(options ?? {});
  if (!result.success) {
    const issue = result.error.issues[0]!;
    const validKeys = Object.keys((spec.optionsSchema as unknown as { shape: object }).shape).join(', ');
    let where = `options of loss "${name}"`;
    let got = '';
    if (issue.path.length > 0) {
      where += ` at ${issue.path.join('.')}`;
      const value = issue.path.reduce<unknown>((v, k) => (v !== null && typeof v === 'object' ? (v as Record<PropertyKey, unknown>)[k] : undefined), options);
      got = `, got ${JSON.stringify(value)}`;
    }
    throw new ConfigError(`${where}: ${issue.message}${got}. Valid keys: ${validKeys}.`);
  }
  return result.data;
}

/** Runs a loss by name; options are validated against its schema first. */
export function computeLoss<N extends LossName>(name: N, inputs: LossInputs<N>, options?: LossOptions<N>): tf.Scalar {
  const spec = lossRegistry[name] as unknown as LossSpec<LossInputs<N>, LossOptions<N>>;
  return spec.fn(inputs, options === undefined ? undefined : parseLossOptions(name, options));
}
