import { ProtosegError } from '../../errors.js';
import type { CommandSpec } from '../command.js';

// Placeholder until the command lands; it fails loudly rather than pretending to work.
export const predictCommand: CommandSpec = {
  name: 'predict',
  summary: 'not implemented yet',
  flags: {},
  async run() {
    throw new ProtosegError('PROTOSEG_INTERNAL', 'protoseg predict is not implemented yet.');
  },
};
