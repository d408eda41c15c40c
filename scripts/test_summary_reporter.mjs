// A node:test reporter that prints one closing line, "tests: N passed, N failed, N skipped", with the
// reason of every skip counted above it, so skipped tests (e.g. the libtorch suites when the addon is
// not built) are never hidden behind a green summary. scripts/run_tests.mjs adds it next to the
// default reporter.
export default async function* summaryReporter(source) {
  let passed = 0;
  let failed = 0;
  let todo = 0;
  const skipped = new Map();
  for await (const event of source) {
    if (event.type !== 'test:pass' && event.type !== 'test:fail') continue;
    const data = event.data;
    if (data.details?.type === 'suite') {
      // A suite skipped as a whole hides its tests; count it so it still shows.
      if (data.skip !== undefined) skipped.set(`suite: ${data.skip === true ? 'skipped' : data.skip}`, (skipped.get(`suite: ${data.skip === true ? 'skipped' : data.skip}`) ?? 0) + 1);
      continue;
    }
    if (data.skip !== undefined) {
      const reason = data.skip === true ? '(no reason given)' : String(data.skip);
      skipped.set(reason, (skipped.get(reason) ?? 0) + 1);
    } else if (data.todo !== undefined) todo++;
    else if (event.type === 'test:pass') passed++;
    else failed++;
  }
  const skippedCount = [...skipped.values()].reduce((a, b) => a + b, 0);
  const lines = [''];
  for (const [reason, n] of skipped) lines.push(`skipped ${n}: ${reason}`);
  if (todo > 0) lines.push(`todo ${todo}`);
  lines.push(`tests: ${passed} passed, ${failed} failed, ${skippedCount} skipped`);
  yield `${lines.join('\n')}\n`;
}
