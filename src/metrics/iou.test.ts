import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { ConfusionMatrix } from './confusion_matrix.js';
import { meanIoU, metricsObject, perClassIoU, pixelAccuracy, formatMetrics } from './iou.js';
import { CLASS_NAMES } from '../data/label_maps.js';

function matrix(entries: [gt: number, pred: number, count: number][]): ConfusionMatrix {
  const m = new ConfusionMatrix();
  for (const [g, p, n] of entries) m.counts[g * 19 + p] = n;
  return m;
}

describe('IoU from a confusion matrix', () => {
  it('computes TP/(TP+FP+FN) in percent on a hand-built matrix', () => {
    // road: TP 6, FN 2 (-> sidewalk), FP 1 (sidewalk -> road); sidewalk: TP 3, FN 1, FP 2.
    const m = matrix([[0, 0, 6], [0, 1, 2], [1, 0, 1], [1, 1, 3]]);
    const iou = perClassIoU(m);
    assert.equal(iou[0], (100 * 6) / 9);
    assert.equal(iou[1], (100 * 3) / 6);
    assert.equal(iou[2], null);
    assert.equal(meanIoU(m), ((100 * 6) / 9 + 50) / 2);
    assert.equal(pixelAccuracy(m), (100 * 9) / 12);
  });

  it('leaves classes absent from ground truth and prediction out of the mean (null)', () => {
    const m = matrix([[2, 2, 10]]);
    const iou = perClassIoU(m);
    assert.equal(iou.filter((v) => v === null).length, 18);
    assert.equal(meanIoU(m), 100);
  });

  it('counts a class that is only predicted, with IoU 0', () => {
    // building (2) correct 10 times; 5 building pixels predicted as car (13), car never in ground truth.
    const m = matrix([[2, 2, 10], [2, 13, 5]]);
    const iou = perClassIoU(m);
    assert.equal(iou[13], 0);
    assert.equal(iou[2], (100 * 10) / 15);
    assert.equal(meanIoU(m), ((100 * 10) / 15 + 0) / 2);
  });

  it('ignore pixels never reach the metrics (no false positive from an ignore-labelled pixel)', () => {
    const m = new ConfusionMatrix();
    // Two ignore pixels predicted as sky (10); sky is otherwise absent.
    m.add(Uint8Array.from([0, 0, 255, 255]), Uint8Array.from([0, 0, 10, 10]));
    const metrics = metricsObject(m, 1);
    assert.equal(metrics.perClassIoU['sky'], null);
    assert.equal(metrics.mIoU, 100);
    assert.equal(metrics.pixelAccuracy, 100);
  });

  it('builds the contract metrics object', () => {
    const m = matrix([[0, 0, 6], [0, 1, 2], [1, 0, 1], [1, 1, 3], [18, 18, 4]]);
    const metrics = metricsObject(m, 7);
    assert.deepEqual(Object.keys(metrics).sort(), ['confusion', 'images', 'mIoU', 'perClassIoU', 'pixelAccuracy']);
    assert.deepEqual(Object.keys(metrics.perClassIoU), [...CLASS_NAMES]);
    assert.equal(metrics.perClassIoU['road'], (100 * 6) / 9);
    assert.equal(metrics.perClassIoU['bicycle'], 100);
    assert.equal(metrics.perClassIoU['wall'], null);
    assert.equal(metrics.images, 7);
    assert.equal(metrics.confusion.length, 19);
    assert.ok(metrics.confusion.every((row) => row.length === 19));
    assert.equal(metrics.confusion[0]![1], 2);
    assert.equal(metrics.mIoU, ((100 * 6) / 9 + 50 + 100) / 3);
    // JSON round trip keeps nulls and numbers (no NaN anywhere).
    assert.deepEqual(JSON.parse(JSON.stringify(metrics)), metrics);
    assert.match(formatMetrics(metrics), /mIoU\s+72\.22/);
  });

  it('refuses to score when no pixel was counted', () => {
    assert.ok(Number.isNaN(meanIoU(new ConfusionMatrix())));
    assert.throws(() => metricsObject(new ConfusionMatrix().add([255], [0]), 1), /expected at least one labelled \(non-ignore\) pixel, got 0 over 1 image/);
  });
});
