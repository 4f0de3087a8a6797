/**
 * `npm run test:python`: the Python client's tests (clients/python/tests) and the federated
 * training example's (examples/federated-digits: its unit tests and its short run), with pytest,
 * against the real service under serverless-offline, on loopback only. Like
 * scripts/schemathesis.ts it resolves a database and an object store as `npm start` does, runs the
 * service on them with the local aggregation executor, and makes a developer token; then it runs
 * pytest in a virtualenv made from both folders' pinned requirements
 * (.cache/python-client-venv, remade only when they or clients/python/pyproject.toml change) with
 * the client installed editable.
 *
 *   npm run test:python                        all tests; JUnit XML in test-results/pytest.xml
 *   npm run test:python -- -k binary -x        extra arguments go to pytest
 *   npm run test:python -- --bench             clients/python/bench/transfer.py instead of pytest
 *   npm run test:python -- --bench --values 10000000    extra arguments go to the bench
 *
 * pytest gets FMA_BASE_URL, FMA_DEVELOPER_TOKEN, FMA_S3_ENDPOINT and FMA_S3_BUCKET (for the tests
 * that tamper with stored bytes) and FMA_REPO_ROOT (for the tests that drive the TypeScript SDK
 * in node). The exit code is pytest's; the JUnit report is written whatever happens (a setup
 * failure is reported as a failed test case), and every service this starts is stopped.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { freshDatabaseWithDeveloper, localServiceEnv } from './local-service';
import { resolveDatabase, type ResolvedDatabase } from './database/resolve-database';
import { resolveObjectStore, type ResolvedObjectStore } from './object-store/resolve-object-store';
import { startOffline, type RunningOffline } from './offline';

const projectRoot = path.resolve(__dirname, '..');
const clientRoot = path.join(projectRoot, 'clients', 'python');
const exampleRoot = path.join(projectRoot, 'examples', 'federated-digits');
const requirementsFiles = [path.join(clientRoot, 'requirements-dev.txt'), path.join(exampleRoot, 'requirements.txt')];
const venv = path.join(projectRoot, '.cache', 'python-client-venv');
const venvPython = path.join(venv, 'bin', 'python');
const venvStamp = path.join(venv, '.requirements-sha256');
const junitReport = path.join(projectRoot, 'test-results', 'pytest.xml');

function log(message: string): void {
  console.error(`[python-tests] ${message}`);
}

/** The inputs of the virtualenv: the pinned requirements and the package's metadata. */
function requirementsHash(): string {
  const hash = createHash('sha256');
  for (const file of [...requirementsFiles, path.join(clientRoot, 'pyproject.toml')]) hash.update(readFileSync(file));
  return hash.digest('hex');
}

function run(command: string, args: readonly string[]): void {
  const result = spawnSync(command, args, { cwd: projectRoot, stdio: 'inherit' });
  if (result.status !== 0) throw new Error(`${command} ${args.join(' ')} failed (${result.status ?? result.signal})`);
}

/** Makes (or reuses) the virtualenv with the pinned dev requirements and the client, editable. */
function ensureVirtualenv(): void {
  const wanted = requirementsHash();
  if (existsSync(venvPython) && existsSync(venvStamp) && readFileSync(venvStamp, 'utf8').trim() === wanted) {
    log(`reusing ${path.relative(projectRoot, venv)} (requirements unchanged)`);
    return;
  }
  log(`making ${path.relative(projectRoot, venv)} from ${requirementsFiles.map((file) => path.relative(projectRoot, file)).join(' and ')}`);
  rmSync(venv, { recursive: true, force: true });
  run(process.env.PYTHON ?? 'python3', ['-m', 'venv', venv]);
  const pip = [venvPython, '-m', 'pip', '--disable-pip-version-check', 'install', '--quiet'] as const;
  run(pip[0], [...pip.slice(1), ...requirementsFiles.flatMap((file) => ['-r', file])]);
  // Editable, with the pinned hatchling of the requirements: source changes need no reinstall.
  run(pip[0], [...pip.slice(1), '--no-deps', '--no-build-isolation', '--editable', clientRoot]);
  writeFileSync(venvStamp, `${wanted}\n`);
}

function xmlEscape(text: string): string {
  return text.replace(/[<>&"]/g, (c) => ({ '<': '&lt;', '>': '&gt;', '&': '&amp;', '"': '&quot;' })[c]!);
}

/** A JUnit report of one failed case, for a run that failed before pytest could write its own. */
function writeSetupFailureReport(error: unknown): void {
  const message = error instanceof Error ? (error.stack ?? error.message) : String(error);
  mkdirSync(path.dirname(junitReport), { recursive: true });
  writeFileSync(
    junitReport,
    '<?xml version="1.0" encoding="utf-8"?>\n' +
      '<testsuites><testsuite name="pytest" errors="1" failures="0" skipped="0" tests="1">' +
      '<testcase classname="scripts.python-tests" name="setup">' +
      `<error message="${xmlEscape(message.split('\n')[0] ?? '')}">${xmlEscape(message)}</error>` +
      '</testcase></testsuite></testsuites>\n',
  );
}

async function main(argv: readonly string[]): Promise<number> {
  const bench = argv.includes('--bench');
  const extraArgs = argv.filter((arg) => arg !== '--bench');
  let database: ResolvedDatabase | undefined;
  let store: ResolvedObjectStore | undefined;
  let offline: RunningOffline | undefined;
  let child: ChildProcess | undefined;
  let pytestStarted = false;
  let stopping: Promise<void> | undefined;
  const stopServices = () =>
    (stopping ??= (async () => {
      await offline?.stop().catch((error: unknown) => log(`stopping serverless-offline: ${String(error)}`));
      await Promise.all([database?.stop(), store?.stop()]).catch((error: unknown) => log(`stopping the stores: ${String(error)}`));
    })());
  // Ctrl-C or a kill: end pytest first (SIGINT, so that it still writes its report; SIGKILL if it
  // has not ended 10 s later), then everything this started.
  const onSignal = (signal: NodeJS.Signals) => {
    log(`${signal}: stopping`);
    if (child !== undefined && child.exitCode === null && child.signalCode === null) {
      child.kill('SIGINT');
      setTimeout(() => child?.kill('SIGKILL'), 10_000).unref();
    } else void stopServices().then(() => process.exit(130));
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  try {
    ensureVirtualenv();
    database = await resolveDatabase();
    log(`database: ${database.description}`);
    store = await resolveObjectStore();
    log(`object store: ${store.description}`);
    const { dbName, token } = await freshDatabaseWithDeveloper(database.uri, 'python_client');
    offline = await startOffline({
      env: localServiceEnv(database.uri, dbName, store),
      esbuildWorkFolder: '.esbuild/python-tests',
      readyTimeoutMs: 280_000,
    });
    log(`service: ${offline.httpUrl}`);
    const args = bench
      ? [path.join(clientRoot, 'bench', 'transfer.py'), ...extraArgs]
      : ['-m', 'pytest', path.join(clientRoot, 'tests'), exampleRoot, `--junitxml=${junitReport}`, '-p', 'no:cacheprovider', ...extraArgs];
    log(`${path.relative(projectRoot, venvPython)} ${args.join(' ')}`);
    if (!bench) rmSync(junitReport, { force: true }); // so that a report found afterwards is this run's
    pytestStarted = !bench;
    const code = await new Promise<number>((resolve, reject) => {
      child = spawn(venvPython, args, {
        cwd: clientRoot,
        stdio: 'inherit',
        env: {
          ...process.env,
          FMA_BASE_URL: offline!.httpUrl,
          FMA_DEVELOPER_TOKEN: token,
          FMA_S3_ENDPOINT: store!.endpoint,
          FMA_S3_BUCKET: store!.bucket,
          FMA_REPO_ROOT: projectRoot,
          PYTHONDONTWRITEBYTECODE: '1',
        },
      });
      child.once('error', reject);
      child.once('exit', (exitCode, signal) => resolve(exitCode ?? (signal === null ? 1 : 128 + 15)));
    });
    if (!bench && !existsSync(junitReport)) writeSetupFailureReport(new Error(`pytest exited ${code} without writing ${junitReport}`));
    return code;
  } catch (error) {
    log(error instanceof Error ? error.message : String(error));
    if (!bench && !pytestStarted) writeSetupFailureReport(error);
    return 1;
  } finally {
    await stopServices();
  }
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (error: unknown) => {
    console.error(error);
    process.exit(1);
  },
);
