/**
 * Errors with a stable code and a message that says how to fix the problem.
 * Pattern: "<where>: expected <what>, got <actual>. <how to fix>".
 * The library throws and never exits; cli/main.ts maps user errors to exit 1, others to exit 2.
 */
export type ErrorCode =
  | 'PROTOSEG_USAGE'
  | 'PROTOSEG_CONFIG_INVALID'
  | 'PROTOSEG_UNKNOWN_NAME'
  | 'PROTOSEG_SHAPE_MISMATCH'
  | 'PROTOSEG_DATASET_NOT_FOUND'
  | 'PROTOSEG_DATA_INVALID'
  | 'PROTOSEG_IMAGE_DECODE'
  | 'PROTOSEG_CHECKPOINT_INVALID'
  | 'PROTOSEG_KERNEL_NOT_REGISTERED'
  | 'PROTOSEG_BACKEND_UNAVAILABLE'
  | 'PROTOSEG_NUMERICAL'
  | 'PROTOSEG_EXPORT_UNSUPPORTED'
  | 'PROTOSEG_DISTRIBUTED'
  | 'PROTOSEG_INTERNAL';

/** Codes whose cause the user can fix (bad input, config, data): the CLI exits with 1 for these. */
const USER_CODES: ReadonlySet<ErrorCode> = new Set<ErrorCode>([
  'PROTOSEG_USAGE',
  'PROTOSEG_CONFIG_INVALID',
  'PROTOSEG_UNKNOWN_NAME',
  'PROTOSEG_SHAPE_MISMATCH',
  'PROTOSEG_DATASET_NOT_FOUND',
  'PROTOSEG_DATA_INVALID',
  'PROTOSEG_IMAGE_DECODE',
  'PROTOSEG_CHECKPOINT_INVALID',
  'PROTOSEG_BACKEND_UNAVAILABLE',
  'PROTOSEG_NUMERICAL',
  'PROTOSEG_EXPORT_UNSUPPORTED',
  // Rendezvous, a failed or unreachable peer rank, ranks out of step: fixed by the launch (ports, addresses, flags).
  'PROTOSEG_DISTRIBUTED',
]);

export class ProtosegError extends Error {
  readonly code: ErrorCode;
  constructor(code: ErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'ProtosegError';
    this.code = code;
  }
  get isUserError(): boolean {
    return USER_CODES.has(this.code);
  }
}

export class ConfigError extends ProtosegError {
  constructor(message: string) {
    super('PROTOSEG_CONFIG_INVALID', message);
    this.name = 'ConfigError';
  }
}

export class DataError extends ProtosegError {
  /** The file the problem is about, when there is one. */
  readonly file: string | undefined;
  constructor(code: 'PROTOSEG_DATA_INVALID' | 'PROTOSEG_IMAGE_DECODE' | 'PROTOSEG_DATASET_NOT_FOUND', message: string, file?: string) {
    super(code, message);
    this.name = 'DataError';
    this.file = file;
  }
}

/** Throws PROTOSEG_UNKNOWN_NAME listing the valid names and, when one is close, suggesting it. */
export function unknownName(where: string, got: string, valid: readonly string[]): ProtosegError {
  const close = closestName(got, valid);
  const hint = close !== undefined ? ` Did you mean "${close}"?` : '';
  return new ProtosegError('PROTOSEG_UNKNOWN_NAME', `${where}: expected one of ${valid.map((v) => `"${v}"`).join(', ')}, got "${got}".${hint}`);
}

/** The valid name with the smallest edit distance to `got`, if it is close enough to be a typo. */
export function closestName(got: string, valid: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestDistance = Infinity;
  for (const name of valid) {
    const d = editDistance(got.toLowerCase(), name.toLowerCase());
    if (d < bestDistance) {
      bestDistance = d;
      best = name;
    }
  }
  return best !== undefined && bestDistance <= Math.max(2, Math.floor(best.length / 3)) ? best : undefined;
}

export function editDistance(a: string, b: string): number {
  const previous = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    let diagonal = previous[0]!;
    previous[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const above = previous[j]!;
      previous[j] = Math.min(above + 1, previous[j - 1]! + 1, diagonal + (a[i - 1] === b[j - 1] ? 0 : 1));
      diagonal = above;
    }
  }
  return previous[b.length]!;
}
