// Runs npm's s3rver on loopback for Leadline's recording tests (recording/s3test):
// node serve.js <directory> <bucket>. It prints {"port": N} on a line once it listens
// and stops at the end of its input. Credentials: S3RVER / S3RVER (s3rver's account);
// signatures are checked (allowMismatchedSignatures false).
'use strict';
const S3rver = require('s3rver');

const [directory, bucket] = process.argv.slice(2);
const server = new S3rver({
  address: '127.0.0.1',
  port: 0,
  silent: true,
  directory,
  vhostBuckets: false,
  allowMismatchedSignatures: false,
  configureBuckets: [{ name: bucket }],
});
server.run().then(
  (addr) => {
    process.stdout.write(JSON.stringify({ port: addr.port }) + '\n');
  },
  (err) => {
    console.error(err);
    process.exit(1);
  },
);
process.stdin.on('end', () => server.close(() => process.exit(0)));
process.stdin.resume();
