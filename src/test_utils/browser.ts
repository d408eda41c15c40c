/**
 * Test support: headless Chromium (Debian package `chromium`, driven by playwright-core) with a fresh
 * profile, offline, and the flags that keep it from calling home. Test code only.
 */
import { existsSync } from 'node:fs';
import { chromium, type BrowserContext } from 'playwright-core';

export const CHROMIUM = '/usr/bin/chromium';

/** PROTOSEG_SKIP_BROWSER_TESTS=1 skips the browser tests on a machine without Chromium. */
export const SKIP_BROWSER_TESTS = process.env['PROTOSEG_SKIP_BROWSER_TESTS'] === '1';

/** A new persistent context whose profile lives in `profileDir` (a folder that does not exist yet). */
export async function launchChromium(profileDir: string, viewport = { width: 1360, height: 900 }): Promise<BrowserContext> {
  if (!existsSync(CHROMIUM)) {
    throw new Error(`${CHROMIUM}: expected Chromium for the browser tests, got no such file. Install it (apt-get install -y chromium) or set PROTOSEG_SKIP_BROWSER_TESTS=1.`);
  }
  return chromium.launchPersistentContext(profileDir, {
    executablePath: CHROMIUM,
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    viewport,
    offline: true,
    acceptDownloads: true,
  });
}
