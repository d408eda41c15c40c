import { ProtosegError } from '../../errors.js';
import type { CommandSpec } from '../command.js';

// Placeholder until the command lands; it fails loudly rather than pretending to work.
export const synthCommand: CommandSpec = {
  name: 'synth',
  summary: 'not implemented yet',
  flags: {},
  async run() {
    throw new ProtosegError('PROTOSEG_INTERNAL', 'protoseg synth is not implemented yet.');
  },
};
