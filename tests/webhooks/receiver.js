#!/usr/bin/env node
// A webhook receiver for extract-sync's integration tests. It verifies every request with the
// `standardwebhooks` package (an implementation independent of extract-sync's own signing),
// answers with a scripted sequence of responses, and appends each request as one JSON line to
// a log file the test reads.
//
//   node receiver.js --log FILE [--secret whsec_...]... [--respond SPEC]... [--tls-key K --tls-cert C]
//
// SPEC, one per request in order, the last one repeating:
//   200                      answer with that status
//   429;retry-after=2        ... with a Retry-After header (seconds or an HTTP date)
//   200;delay=1500           ... after waiting that many milliseconds
//   hang                     never answer (the connection stays open until the client gives up)
// It listens on 127.0.0.1 on a free port and prints `listening on PORT` once it accepts
// connections. SIGTERM or SIGINT ends it.

'use strict';

const fs = require('fs');
const http = require('http');
const https = require('https');
const { Webhook } = require('standardwebhooks');

function parseArgs(argv) {
  const args = { log: null, secrets: [], respond: [], tlsKey: null, tlsCert: null };
  for (let i = 0; i < argv.length; i += 2) {
    const [flag, value] = [argv[i], argv[i + 1]];
    if (value === undefined) throw new Error(`${flag} needs a value`);
    if (flag === '--log') args.log = value;
    else if (flag === '--secret') args.secrets.push(value);
    else if (flag === '--respond') args.respond.push(value);
    else if (flag === '--tls-key') args.tlsKey = value;
    else if (flag === '--tls-cert') args.tlsCert = value;
    else throw new Error(`unknown flag ${flag}`);
  }
  if (!args.log) throw new Error('--log FILE is required');
  if (args.respond.length === 0) args.respond.push('200');
  return args;
}

function parseSpec(spec) {
  if (spec === 'hang') return { hang: true };
  const [status, ...options] = spec.split(';');
  const response = { status: Number(status), headers: {}, delay: 0 };
  if (!Number.isInteger(response.status)) throw new Error(`bad response spec ${spec}`);
  for (const option of options) {
    const eq = option.indexOf('=');
    const [key, value] = [option.slice(0, eq), option.slice(eq + 1)];
    if (key === 'retry-after') response.headers['retry-after'] = value;
    else if (key === 'delay') response.delay = Number(value);
    else throw new Error(`bad response option ${option}`);
  }
  return response;
}

// true/false per configured secret: whether the request verifies with that secret alone.
function verify(secrets, body, headers) {
  return secrets.map((secret) => {
    try {
      new Webhook(secret).verify(body, headers);
      return true;
    } catch (e) {
      return false;
    }
  });
}

function main() {
  const args = parseArgs(process.argv.slice(2));
  const responses = args.respond.map(parseSpec);
  let count = 0;

  const handler = (req, res) => {
    const chunks = [];
    req.on('data', (chunk) => chunks.push(chunk));
    req.on('end', () => {
      const body = Buffer.concat(chunks).toString('utf8');
      const response = responses[Math.min(count, responses.length - 1)];
      count += 1;
      const record = {
        n: count,
        received_at_ms: Date.now(),
        method: req.method,
        url: req.url,
        headers: req.headers,
        body,
        verified: verify(args.secrets, body, req.headers),
        answer: response.hang ? 'hang' : response.status,
      };
      // Logged before answering, so a test that sees the line knows the request arrived.
      fs.appendFileSync(args.log, JSON.stringify(record) + '\n');
      if (response.hang) return;
      setTimeout(() => {
        res.writeHead(response.status, { 'content-type': 'text/plain', ...response.headers });
        res.end(`answer ${response.status}\n`);
      }, response.delay);
    });
  };

  const server = args.tlsKey
    ? https.createServer({ key: fs.readFileSync(args.tlsKey), cert: fs.readFileSync(args.tlsCert) }, handler)
    : http.createServer(handler);
  server.listen(0, '127.0.0.1', () => {
    process.stdout.write(`listening on ${server.address().port}\n`);
  });
  for (const signal of ['SIGTERM', 'SIGINT']) process.on(signal, () => process.exit(0));
}

try {
  main();
} catch (e) {
  process.stderr.write(`receiver: ${e.message}\n`);
  process.exit(2);
}
