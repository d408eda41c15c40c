/**
 * The losses' rank reducer (losses/batch_mean.ts) over a run's collectives: each loss that averages
 * over its batch's items sums its count over the ranks, so the ranks' losses, averaged like their
 * gradients, are the loss of the global batch. One all-gather per call, which also carries a hash of
 * the call's name: ranks at different calls (a branch on local data taken on some ranks only) fail
 * with one line instead of summing unrelated counts.
 */
import { ProtosegError } from '../errors.js';
import type { RankReducer } from '../losses/batch_mean.js';
import type { Collectives } from './collectives.js';
import { namesHash } from './gradient_reducer.js';

export function rankReducer(collectives: Collectives): RankReducer {
  return {
    worldSize: collectives.worldSize,
    sumOverRanks(values: Float64Array, where: string): void {
      if (collectives.worldSize === 1) return;
      const mine = new Float64Array(values.length + 1);
      mine[0] = namesHash([where]);
      mine.set(values, 1);
      const all = collectives.allGatherArray(mine);
      const stride = mine.length;
      if (all.length !== stride * collectives.worldSize) {
        throw new ProtosegError('PROTOSEG_DISTRIBUTED', `${where}: rank ${collectives.rank} summed ${values.length} values over the ranks, but other ranks sent other sizes. Every rank must compute the same losses in the same order.`);
      }
      values.fill(0);
      for (let r = 0; r < collectives.worldSize; r++) {
        if (all[r * stride] !== mine[0]) {
          throw new ProtosegError(
            'PROTOSEG_DISTRIBUTED',
            `${where}: rank ${r} is at another loss than rank ${collectives.rank} (every rank must compute the same losses in the same order; a branch on this rank's own data was taken on some ranks only).`,
          );
        }
        for (let i = 0; i < values.length; i++) values[i] += all[r * stride + 1 + i]!;
      }
    },
  };
}
