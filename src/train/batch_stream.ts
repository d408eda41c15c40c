/**
 * An endless stream of training batches over a BatchLoader, positioned by (epoch, batch index), so a
 * resumed run continues with exactly the batches it would have seen (the loader's order and
 * augmentation depend only on its seed, the epoch and the position).
 */
import type { Batch, BatchLoader } from '../data/batch_loader.js';

export interface StreamPosition {
  epoch: number;
  batch: number;
}

export class BatchStream {
  private iterator: AsyncGenerator<Batch> | undefined;
  private position: StreamPosition;

  constructor(
    readonly loader: BatchLoader,
    start: StreamPosition = { epoch: 0, batch: 0 },
  ) {
    this.position = { ...start };
  }

  /** Position of the next batch. */
  get next(): StreamPosition {
    return { ...this.position };
  }

  async take(): Promise<Batch> {
    for (;;) {
      if (this.iterator === undefined) {
        this.iterator = this.loader.epoch(this.position.epoch, this.position.batch);
      }
      const result = await this.iterator.next();
      if (!result.done) {
        this.position.batch += 1;
        return result.value;
      }
      this.iterator = undefined;
      this.position = { epoch: this.position.epoch + 1, batch: 0 };
    }
  }

  async close(): Promise<void> {
    await this.iterator?.return(undefined);
    this.iterator = undefined;
  }
}
