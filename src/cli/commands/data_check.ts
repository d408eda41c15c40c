import { ProtosegError } from '../../errors.js';
import type { CommandSpec } from '../command.js';

// Placeholder until the command lands; it fails loudly rather than pretending to work.
export const dataCheckCommand: CommandSpec = {
  name: 'data check',
  summary: 'not implemented yet',
  flags: {},
  async run() {
    throw new ProtosegError('PROTOSEG_INTERNAL', 'protoseg data check is not implemented yet.');
  },
};
