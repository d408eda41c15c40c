import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { writeFileAtomic } from './atomic_file.js';
import { makeTempDir, removeTempDir } from './test_utils/fixtures.js';

describe('writeFileAtomic', () => {
  it('creates missing folders, replaces the old content whole, and leaves no temporary file behind', async () => {
    const dir = await makeTempDir('protoseg-atomic-');
    try {
      const path = join(dir, 'a', 'b', 'record.json');
      writeFileAtomic(path, '{"old":true}');
      writeFileAtomic(path, Buffer.from('{"new":1}', 'utf8'));
      assert.equal(readFileSync(path, 'utf8'), '{"new":1}');
      assert.deepEqual(readdirSync(join(dir, 'a', 'b')), ['record.json']);
    } finally {
      await removeTempDir(dir);
    }
  });
});
