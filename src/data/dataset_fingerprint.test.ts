import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { utimes, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { datasetFingerprint } from './dataset_fingerprint.js';
import { Gta5Dataset } from './gta5.js';
import { blockScene, buildGta5Tree, makeTempDir, removeTempDir, writePaletteLabelFile, writeRgbPngFile } from '../test_utils/fixtures.js';

let dir = '';
before(async () => {
  dir = await makeTempDir('protoseg-fingerprint-');
});
after(async () => {
  await removeTempDir(dir);
});

describe('datasetFingerprint', () => {
  it('is stable for unchanged files and changes when a file is rewritten, touched, added or the split differs', async () => {
    const root = join(dir, 'gta5');
    await buildGta5Tree(root, 3);
    const open = async (split?: string) => Gta5Dataset.open({ root, ...(split !== undefined ? { split } : {}) });
    const first = datasetFingerprint([await open()]);
    assert.match(first, /^[0-9a-f]{64}$/);
    assert.equal(datasetFingerprint([await open()]), first, 'the same files give the same fingerprint');
    // Regenerated in place with other content (what happened to the cached baseline in issue 15).
    const scene = blockScene(16, 8, 4, 7);
    await writePaletteLabelFile(join(root, 'labels', '00002.png'), 16, 8, scene.ids);
    const rewritten = datasetFingerprint([await open()]);
    assert.notEqual(rewritten, first);
    // Same bytes, new modification time: treated as changed (cheap check, no pixel reads).
    await utimes(join(root, 'images', '00001.png'), new Date(2001, 0, 1), new Date(2001, 0, 1));
    const touched = datasetFingerprint([await open()]);
    assert.notEqual(touched, rewritten);
    await writeRgbPngFile(join(root, 'images', '00004.png'), 16, 8, scene.rgb);
    await writePaletteLabelFile(join(root, 'labels', '00004.png'), 16, 8, scene.ids);
    assert.notEqual(datasetFingerprint([await open()]), touched, 'a new pair');
    await writeFile(join(root, 'one.txt'), '00001\n');
    assert.notEqual(datasetFingerprint([await open('one.txt')]), datasetFingerprint([await open()]), 'another split');
    // Order of the splits matters (train vs val are different roles).
    const [a, b] = [await open('one.txt'), await open()];
    assert.notEqual(datasetFingerprint([a, b]), datasetFingerprint([b, a]));
  });
});
