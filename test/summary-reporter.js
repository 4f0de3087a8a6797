const fs = require('node:fs');
const path = require('node:path');

/**
 * Prints one plain closing line, "tests: N passed, N failed, N skipped", after Jest's own summary,
 * and writes the same counts to test-results/jest.json, where .ci/run adds them to the other
 * runners' (.ci/closing-line.js). A test file that could not run at all (a syntax error, a
 * failing beforeAll outside any test) counts as one failure, so it cannot pass unseen.
 */
class SummaryReporter {
  onRunComplete(_contexts, results) {
    const skipped = results.numPendingTests + results.numTodoTests;
    const failed = results.numFailedTests + results.numRuntimeErrorTestSuites;
    const counts = { passed: results.numPassedTests, failed, skipped };
    const folder = path.join(__dirname, '..', 'test-results');
    fs.mkdirSync(folder, { recursive: true });
    fs.writeFileSync(path.join(folder, 'jest.json'), `${JSON.stringify(counts)}\n`);
    process.stdout.write(`tests: ${counts.passed} passed, ${counts.failed} failed, ${counts.skipped} skipped\n`);
  }
}
module.exports = SummaryReporter;
