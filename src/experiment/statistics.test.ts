import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mean, pairedDelta, regularizedIncompleteBeta, sampleStd, studentTCdf, studentTQuantile } from './statistics.js';

const close = (a: number, b: number, tol: number, what: string): void => assert.ok(Math.abs(a - b) <= tol, `${what}: ${a} vs ${b}`);

describe('experiment statistics', () => {
  it('mean and sample std by hand', () => {
    assert.equal(mean([1, 2, 3, 6]), 3);
    // deviations -2, -1, 0, 3: squares 4 + 1 + 0 + 9 = 14, / 3.
    close(sampleStd([1, 2, 3, 6]), Math.sqrt(14 / 3), 1e-12, 'std');
    assert.equal(sampleStd([5]), 0);
    assert.ok(Number.isNaN(mean([])));
  });

  it('incomplete beta and t CDF match closed forms', () => {
    // I_x(1, 1) = x; I_x(a, 1) = x^a.
    close(regularizedIncompleteBeta(0.3, 1, 1), 0.3, 1e-12, 'I(1,1)');
    close(regularizedIncompleteBeta(0.3, 2.5, 1), 0.3 ** 2.5, 1e-12, 'I(2.5,1)');
    // t with 1 df is Cauchy: F(t) = 1/2 + atan(t)/pi; with 2 df F(t) = 1/2 + t / (2 sqrt(2 + t^2)).
    close(studentTCdf(1.7, 1), 0.5 + Math.atan(1.7) / Math.PI, 1e-10, 'Cauchy');
    close(studentTCdf(-0.8, 2), 0.5 - 0.8 / (2 * Math.sqrt(2 + 0.64)), 1e-10, 't2');
  });

  it('t quantiles match the tables', () => {
    close(studentTQuantile(0.975, 1), 12.7062047, 1e-6, 'df 1');
    close(studentTQuantile(0.975, 4), 2.7764451, 1e-6, 'df 4');
    close(studentTQuantile(0.975, 9), 2.2621572, 1e-6, 'df 9');
    close(studentTQuantile(0.975, 1e6), 1.959964, 1e-5, 'df large');
    close(studentTQuantile(0.025, 4), -2.7764451, 1e-6, 'lower');
  });

  it('paired delta: mean difference and its t interval, by hand', () => {
    // Differences 1, 2, 3, 2, 2: mean 2, std sqrt(2/4) = 0.7071; half width 2.7764451 * 0.7071 / sqrt(5).
    const d = pairedDelta([11, 12, 13, 12, 12], [10, 10, 10, 10, 10]);
    assert.equal(d.n, 5);
    close(d.mean, 2, 1e-12, 'mean');
    const half = (2.7764451 * Math.sqrt(0.5)) / Math.sqrt(5);
    close(d.ci95![0], 2 - half, 1e-6, 'lo');
    close(d.ci95![1], 2 + half, 1e-6, 'hi');
    assert.equal(d.excludesZero, true);
    // Differences +1, -1: the interval straddles zero; missing seeds are left out of the pairs.
    const e = pairedDelta([1, 0, undefined], [0, 1, 5]);
    assert.equal(e.n, 2);
    assert.equal(e.excludesZero, false);
    assert.equal(pairedDelta([1], [0]).ci95, null);
  });
});
