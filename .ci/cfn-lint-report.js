#!/usr/bin/env node
// Prints cfn-lint's findings on the packaged template (its `--format json` output) and fails on
// any error; warnings pass. Each finding is marked "ours" when it is on a resource that
// serverless.yml's `resources:` defines, else "framework" (what osls and its plugins generate).
// Usage: node .ci/cfn-lint-report.js <cfn-lint.json> <serverless-state.json>
'use strict';
const { readFileSync } = require('node:fs');

const [findingsFile, stateFile] = process.argv.slice(2);
const findings = JSON.parse(readFileSync(findingsFile, 'utf8'));
const state = JSON.parse(readFileSync(stateFile, 'utf8'));
const ours = new Set(Object.keys(state.service?.resources?.Resources ?? {}));

const counts = {};
for (const finding of findings) {
  const [section, resource] = finding.Location.Path;
  const origin = section === 'Resources' && !ours.has(resource) ? 'framework' : 'ours';
  const key = `${finding.Level} ${finding.Rule.Id} (${origin})`;
  counts[key] = (counts[key] ?? 0) + 1;
  console.log(
    `${finding.Level.padEnd(13)} ${finding.Rule.Id} ${origin.padEnd(9)} ${finding.Location.Path.join('/')}: ${finding.Message}`,
  );
}
const errors = findings.filter((finding) => finding.Level === 'Error').length;
const warnings = findings.filter((finding) => finding.Level === 'Warning').length;
const fromFramework = findings.filter(
  (finding) => finding.Level === 'Warning' && finding.Location.Path[0] === 'Resources' && !ours.has(finding.Location.Path[1]),
).length;
for (const [key, count] of Object.entries(counts)) console.log(`  ${String(count).padStart(3)} x ${key}`);
console.log(`cfn-lint: ${errors} errors, ${warnings} warnings (${fromFramework} of them on resources the framework generates)`);
process.exit(errors === 0 ? 0 : 1);
