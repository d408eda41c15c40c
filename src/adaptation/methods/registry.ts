/**
 * The method registry: every name `method` accepts (config/schema.ts METHOD_NAMES) has exactly one
 * entry here (a missing one does not compile), saying what the warm-up trains on, whether target
 * data is evaluated with target batch-norm statistics, and how to build the adaptation phase.
 */
import type { Config, MethodName } from '../../config/schema.js';
import type { StatisticsDomain } from '../../models/layers.js';
import { AdaBnMethod } from './adabn.js';
import { MaxSquaresMethod } from './max_squares.js';
import type { MethodContext, UdaMethod } from './method.js';
import { PcsMethod } from './pcs.js';
import { PcsSeedMethod } from './pcs_seed.js';

/**
 * What the warm-up trains on: the few labelled source images (the source-only baseline, cached and
 * shared by every method that adapts from it), every source image, or the target labels.
 */
export type WarmupKind = 'labelled-source' | 'all-source' | 'target';

export interface MethodSpec {
  summary: string;
  warmup: WarmupKind;
  /** The adaptation phase after the warm-up; absent: the warm-up is the whole run. */
  create?: (ctx: MethodContext) => UdaMethod;
  /** Whether the trained model keeps separate target BN statistics (target data is then evaluated with them). */
  domainStatistics(config: Config): boolean;
}

const never = (): boolean => false;

export const METHODS: Record<MethodName, MethodSpec> = {
  'source-only': { summary: 'the few labelled source images only (the warm-up every adapting method starts from)', warmup: 'labelled-source', domainStatistics: never },
  'source-oracle': { summary: 'every source train image labelled (how much of the gap the source labels alone explain; analysis only)', warmup: 'all-source', domainStatistics: never },
  'target-oracle': { summary: 'trained on the target train labels to convergence (the upper bound; analysis only)', warmup: 'target', domainStatistics: never },
  adabn: {
    summary: 'the source-only model with batch-norm statistics re-estimated on target train images, no gradient step',
    warmup: 'labelled-source',
    create: () => new AdaBnMethod(),
    domainStatistics: () => true,
  },
  'max-squares': {
    summary: 'source labels + max-squares on the target decoder softmax, no prototypes',
    warmup: 'labelled-source',
    create: (ctx) => new MaxSquaresMethod(ctx.config.train.epochs),
    domainStatistics: never,
  },
  'pcs-seed': {
    summary: 'the seed formulation of PCS-seg: cosine head on encoder features, its own argmax as regions, banks, k-means, protoNce, cross-domain entropy, APCL, max-squares',
    warmup: 'labelled-source',
    create: (ctx) => new PcsSeedMethod(ctx, ctx.config.train.epochs),
    domainStatistics: never,
  },
  pcs: {
    summary: 'the default: self-training with an EMA teacher\'s confidence-weighted pseudo-labels, ClassMix and per-domain BN statistics, with PCS prototypes on the decoder features (protoNce, cross-domain entropy)',
    warmup: 'labelled-source',
    create: (ctx) => new PcsMethod(ctx, ctx.config.train.epochs),
    domainStatistics: (config) => config.adapt.domainStatistics,
  },
};

/**
 * The BN statistics a model trained with `config` uses for data of `domain`: the target's own where the
 * method keeps them, the source (shared) ones otherwise.
 */
export function statisticsDomainFor(config: Config, domain: 'source' | 'target'): StatisticsDomain {
  return domain === 'target' && METHODS[config.method].domainStatistics(config) ? 'target' : 'source';
}

/** The spec of a method name (names are validated by the config schema). */
export function methodSpec(name: MethodName): MethodSpec {
  return METHODS[name];
}
