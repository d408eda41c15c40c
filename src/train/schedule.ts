/** Learning-rate schedules (step counted from 0; `totalSteps` is the length of the schedule). */
export type ScheduleName = 'poly' | 'constant' | 'inverse';

export function learningRate(schedule: ScheduleName, baseLr: number, step: number, totalSteps: number, power = 0.9): number {
  switch (schedule) {
    case 'constant':
      return baseLr;
    case 'poly':
      return baseLr * Math.max(0, 1 - step / Math.max(1, totalSteps)) ** power;
    case 'inverse':
      // PCS: lr * (1 + 1e-4 t)^-0.75, stepped after every domain step (algorithm.md b.8).
      return baseLr * (1 + 1e-4 * step) ** -0.75;
  }
}
