/**
 * The closing line of .ci/run: "N passed, N failed, N skipped", added up over every test runner
 * it ran, and its exit status (1 when anything failed).
 *
 *   node .ci/closing-line.js <runner>=<exit status>[:<report>] ...
 *
 * A report is Jest's counts (test-results/jest.json, written by test/summary-reporter.js) or a
 * JUnit XML file (pytest's --junitxml, schemathesis's --report junit). A runner that exited
 * non-zero without a report of any failure (it crashed, a type-check before it failed, its
 * report is missing) counts as one failure of its own, so a broken step can never read as green.
 */
const fs = require('node:fs');

/** Passed, failed and skipped of a JUnit XML report: the sums over its <testsuite> elements. */
function junitCounts(xml) {
  const counts = { passed: 0, failed: 0, skipped: 0 };
  for (const [, attributes] of xml.matchAll(/<testsuite\b([^>]*)>/g)) {
    const read = (name) => Number(new RegExp(`\\b${name}="(\\d+)"`).exec(attributes)?.[1] ?? 0);
    const tests = read('tests');
    const failed = read('failures') + read('errors');
    const skipped = read('skipped');
    counts.failed += failed;
    counts.skipped += skipped;
    counts.passed += Math.max(0, tests - failed - skipped);
  }
  return counts;
}

function reportCounts(report) {
  if (report === undefined || !fs.existsSync(report)) return null;
  const text = fs.readFileSync(report, 'utf8');
  return report.endsWith('.json') ? JSON.parse(text) : junitCounts(text);
}

const total = { passed: 0, failed: 0, skipped: 0 };
for (const argument of process.argv.slice(2)) {
  const [, runner, status, report] = /^([^=]+)=(\d+)(?::(.+))?$/.exec(argument) ?? [];
  if (runner === undefined) throw new Error(`not <runner>=<status>[:<report>]: ${argument}`);
  const counts = reportCounts(report) ?? { passed: 0, failed: 0, skipped: 0 };
  if (Number(status) !== 0 && counts.failed === 0) counts.failed = 1;
  console.log(`${runner}: ${counts.passed} passed, ${counts.failed} failed, ${counts.skipped} skipped (exit ${status})`);
  total.passed += counts.passed;
  total.failed += counts.failed;
  total.skipped += counts.skipped;
}
console.log(`${total.passed} passed, ${total.failed} failed, ${total.skipped} skipped`);
process.exit(total.failed === 0 ? 0 : 1);
