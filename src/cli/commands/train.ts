import { ProtosegError } from '../../errors.js';
import type { CommandSpec } from '../command.js';

// Placeholder until the command lands; it fails loudly rather than pretending to work.
export const trainCommand: CommandSpec = {
  name: 'train',
  summary: 'not implemented yet',
  flags: {},
  async run() {
    throw new ProtosegError('PROTOSEG_INTERNAL', 'protoseg train is not implemented yet.');
  },
};
