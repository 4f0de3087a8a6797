// Runs `node <args>` (serverless offline) and ends it, with every process of its group, as soon
// as the process that started this guard goes away, however it goes (a SIGKILL included): the
// starter holds the write end of this process's stdin, and the kernel closes it when the starter
// dies. startOffline (scripts/offline.ts) makes this guard the leader of a process group of its
// own, so killing the group takes serverless offline and its function workers with it.
'use strict';
const { spawn } = require('node:child_process');

const child = spawn(process.execPath, process.argv.slice(2), { stdio: ['ignore', 'inherit', 'inherit'] });
const killGroup = () => {
  try {
    process.kill(-process.pid, 'SIGKILL');
  } catch {
    process.exit(1);
  }
};
process.stdin.on('end', killGroup);
process.stdin.on('close', killGroup);
process.stdin.on('error', killGroup);
process.stdin.resume();
child.on('exit', (code, signal) => process.exit(code ?? (signal === null ? 1 : 128)));
