// Node module hooks (registered by tfjs_core_suite.mjs) that let Node load tfjs-core's compiled jasmine tests
// (node_modules/@tensorflow/tfjs-core/dist/**/*_test.js) as they ship: those files are ES modules written for a
// bundler, so they have extensionless relative imports ('../index'), sit in a package without "type": "module",
// and jasmine_util.js calls require(). Only files under tfjs-core's dist/ are touched, and only those that are
// not the package's prebuilt bundles (tf-core*.js, which stay CommonJS).
import { existsSync, statSync, readFileSync } from 'node:fs';
import { fileURLToPath, pathToFileURL } from 'node:url';

const CORE_DIST_MARKER = '/node_modules/@tensorflow/tfjs-core/dist/';

function isCoreEsmFile(url) {
  if (!url.startsWith('file:') || !url.includes(CORE_DIST_MARKER) || !url.endsWith('.js')) return false;
  const rest = url.slice(url.indexOf(CORE_DIST_MARKER) + CORE_DIST_MARKER.length);
  // Nested node_modules and the miniprogram/bundle builds are not part of the ESM tree.
  return !rest.includes('node_modules/') && !rest.startsWith('miniprogram/') && !/^tf-core[^/]*\.js$/.test(rest);
}

export async function resolve(specifier, context, nextResolve) {
  const parent = context.parentURL;
  if (parent && isCoreEsmFile(parent) && specifier.startsWith('.') && !specifier.endsWith('.js')) {
    const base = fileURLToPath(new URL(specifier, parent));
    // A bundler resolves 'x' to x.js, or to x/index.js for a folder.
    for (const candidate of [`${base}.js`, `${base}/index.js`]) {
      if (existsSync(candidate) && statSync(candidate).isFile()) {
        return { url: pathToFileURL(candidate).href, shortCircuit: true };
      }
    }
  }
  return nextResolve(specifier, context);
}

export async function load(url, context, nextLoad) {
  if (!isCoreEsmFile(url)) return nextLoad(url, context);
  let source = readFileSync(fileURLToPath(url), 'utf8');
  // jasmine_util.js (and test_async_backends.js) use require() inside an ES module; give them one. Prepended on
  // the first line so that stack traces stay one line off at most.
  if (/\brequire\(/.test(source)) {
    source = `import { createRequire as __cr } from 'node:module'; const require = __cr(import.meta.url); ${source}`;
  }
  // A bundler hands `import * as x from 'cjs-package'` the package's module.exports; Node's namespace object only
  // has the exports its lexer can see (seedrandom's `alea` is not among them), so import the default instead.
  source = source.replace(/import \* as (\w+) from '(seedrandom|long)';/g, "import $1 from '$2';");
  return { format: 'module', source, shortCircuit: true };
}
