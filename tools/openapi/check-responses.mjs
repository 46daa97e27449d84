// Holds the answers lipad gave the end-to-end tests (recorded by the e2e
// harness with LIPA_TEST_RECORD=dir, one JSON object a line in dir/*.jsonl)
// against docs/openapi.json, and the request bodies it took (2xx) against
// the operations' requestBody schemas: each answer's path and method must be an
// operation of the document, its status one of that operation's responses,
// its Content-Type one the response lists, and a JSON body must be valid
// against the response's schema (ajv, JSON Schema draft 2020-12 as OpenAPI
// 3.1 uses, with the formats of ajv-formats). What lipad answers before
// any route is held against the document's x-lipa-generic responses: a path
// no operation has must be its 404, a known path with another method its
// 405, and any request may get 431 (headers too large).
//
//   node tools/openapi/check-responses.mjs DIR [docs/openapi.json]
//
// Prints every failure (at most 5 of each kind in full), a table of what was
// checked per operation with -v, then "openapi-responses: N passed, N failed".
import { readFileSync, readdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const require = createRequire(path.join(root, 'build/node/package.json'));
const Ajv2020 = require('ajv/dist/2020').default;
const addFormats = require('ajv-formats').default;

const args = process.argv.slice(2).filter((a) => a !== '-v');
const verbose = process.argv.includes('-v');
if (args.length < 1) {
  console.error('usage: check-responses.mjs [-v] RECORD_DIR [openapi.json]');
  process.exit(2);
}
const dir = args[0];
const docFile = args[1] || path.join(root, 'docs/openapi.json');
const doc = JSON.parse(readFileSync(docFile, 'utf8'));
const DOC_ID = 'https://lipa.invalid/openapi.json';

const ajv = new Ajv2020({ allErrors: true, strict: true, strictRequired: false, allowUnionTypes: true });
addFormats(ajv);
// OpenAPI's own keywords around and inside the schemas: annotations here
for (const k of ['openapi', 'info', 'servers', 'paths', 'components', 'security', 'tags', 'webhooks',
  'jsonSchemaDialect', 'externalDocs', 'example', 'discriminator', 'xml', 'x-lipa-generic'])
  ajv.addKeyword(k);
ajv.addSchema({ ...doc, $id: DOC_ID });

const METHODS = ['get', 'put', 'post', 'delete', 'options', 'head', 'patch', 'trace'];
const esc = (s) => s.replace(/~/g, '~0').replace(/\//g, '~1');
// templates with more literal segments first: /devices/refresh before /devices/{id}
const templates = Object.keys(doc.paths).map((t) => {
  const segs = t.split('/');
  const re = new RegExp('^' + segs.map((s) => (/^\{[^}]+\}$/.test(s) ? '[^/]+' : s.replace(/[.*+?^$()|[\]\\]/g, '\\$&'))).join('/') + '$');
  return { t, re, literal: segs.filter((s) => !s.startsWith('{')).length };
}).sort((a, b) => b.literal - a.literal);

function matchPath(p) {
  if (p.length > 1 && p.endsWith('/')) p = p.slice(0, -1); // one trailing slash is tolerated
  for (const x of templates) if (x.re.test(p)) return x.t;
  return null;
}

const validators = new Map();
function validatorFor(pointer) {
  let v = validators.get(pointer);
  if (!v) {
    v = ajv.compile({ $ref: DOC_ID + '#' + pointer });
    validators.set(pointer, v);
  }
  return v;
}

function deref(obj) {
  while (obj && obj.$ref) {
    const parts = obj.$ref.replace(/^#\//, '').split('/').map((s) => s.replace(/~1/g, '/').replace(/~0/g, '~'));
    obj = parts.reduce((o, k) => (o ? o[k] : undefined), doc);
  }
  return obj;
}

// the pointer of a response object, following a $ref to components/responses
function responsePointer(base, responses, status) {
  const s = String(status);
  const key = s in responses ? s : `${s[0]}XX` in responses ? `${s[0]}XX` : 'default' in responses ? 'default' : null;
  if (key === null) return null;
  let ptr = `${base}/${esc(key)}`;
  let r = responses[key];
  while (r && r.$ref) {
    ptr = r.$ref.replace(/^#/, '');
    r = deref({ $ref: r.$ref });
  }
  return { ptr, r, key };
}

let passed = 0;
const failures = new Map(); // kind -> [messages]
const seen = new Map(); // "METHOD path status" -> count
function fail(kind, msg) {
  if (!failures.has(kind)) failures.set(kind, []);
  failures.get(kind).push(msg);
}

function check(x, where) {
  const [p] = x.path.split('?');
  const method = x.method.toLowerCase();
  const t = matchPath(p);
  const label = `${x.method} ${p} -> ${x.status}`;
  let responses, base, opLabel;
  if (x.status === 431) {
    responses = doc['x-lipa-generic'];
    base = '/x-lipa-generic';
    opLabel = '(any request)';
  } else if (t && doc.paths[t][method]) {
    responses = doc.paths[t][method].responses;
    base = `/paths/${esc(t)}/${method}/responses`;
    opLabel = `${x.method} ${t}`;
  } else {
    // no route: lipad's own 404 (no such path) or 405 (no such method)
    const unrouted = doc['x-lipa-generic'];
    const want = t ? 405 : 404;
    if (x.status !== want) {
      fail(t ? 'a method the path does not have, not answered 405' : 'no operation for the path, not answered 404',
        `${label} (${where})`);
      return;
    }
    responses = unrouted;
    base = '/x-lipa-generic';
    opLabel = t ? `(no ${x.method} on ${t})` : '(no such path)';
  }
  if (base.startsWith('/paths/') && x.status < 300 && x.requestBody) checkRequest(x, t, method, label, where);
  const key = `${opLabel} ${x.status}`;
  seen.set(key, (seen.get(key) || 0) + 1);
  const found = responsePointer(base, responses, x.status);
  if (!found) {
    fail('status not in the document', `${label}: ${opLabel} lists ${Object.keys(responses).join(', ')} (${where}); body ${String(x.body).slice(0, 200)}`);
    return;
  }
  const { ptr, r } = found;
  const media = (x.contentType || '').split(';')[0].trim().toLowerCase();
  const content = r.content || {};
  if (!Object.keys(content).length) {
    // no representation: an empty body (whatever Content-Type it names), or
    // a body without a Content-Type (libmicrohttpd's own 431 page)
    if (media && x.body) fail('a typed body where the document has none', `${label} (${where}): ${media} ${String(x.body).slice(0, 200)}`);
    else passed++;
    return;
  }
  if (!(media in content)) {
    fail('Content-Type not in the document', `${label}: ${media || '(none)'}, the document has ${Object.keys(content).join(', ')} (${where})`);
    return;
  }
  if (!content[media].schema) {
    passed++;
    return;
  }
  let value = x.body;
  if (media === 'application/json' || media.endsWith('+json')) {
    try {
      value = JSON.parse(x.body);
    } catch (e) {
      fail('a JSON response that is not JSON', `${label} (${where}): ${String(x.body).slice(0, 200)}`);
      return;
    }
  }
  const v = validatorFor(`${ptr}/content/${esc(media)}/schema`);
  if (v(value)) {
    passed++;
  } else {
    const errs = v.errors.slice(0, 6).map((e) => `${e.instancePath || '/'} ${e.message}${e.params && e.params.additionalProperty ? ` (${e.params.additionalProperty})` : ''}${e.params && e.params.allowedValues ? ` ${JSON.stringify(e.params.allowedValues)}` : ''}`);
    fail(`not valid against ${opLabel} ${found.key}`, `${label} (${where}): ${errs.join('; ')}\n      body: ${String(x.body).slice(0, 400)}`);
  }
}

// A request lipad took (2xx) must be one the document allows: its body
// valid against the operation's requestBody schema (a form as an object of
// strings). lipad reads a body as the endpoint expects whatever its
// Content-Type, so a type the operation does not list is read as the one it
// lists.
let requests = 0;
function checkRequest(x, t, method, label, where) {
  const op = doc.paths[t][method];
  if (!x.requestBody) return;
  if (!op.requestBody) return; // lipad reads no body there: whatever was sent is ignored
  const content = deref(op.requestBody).content;
  let media = (x.requestContentType || '').split(';')[0].trim().toLowerCase();
  if (!(media in content)) media = Object.keys(content)[0];
  let value;
  if (media === 'application/x-www-form-urlencoded') {
    value = Object.fromEntries(new URLSearchParams(x.requestBody));
  } else {
    try {
      value = JSON.parse(x.requestBody);
    } catch (e) {
      return; // not JSON: lipad refused it, or a test's deliberate garbage
    }
  }
  const v = validatorFor(`/paths/${esc(t)}/${method}/requestBody/content/${esc(media)}/schema`);
  requests++;
  if (!v(value)) {
    const errs = v.errors.slice(0, 6).map((e) => `${e.instancePath || '/'} ${e.message}`);
    fail(`request taken by lipad but not valid against ${method.toUpperCase()} ${t} requestBody`,
      `${label} (${where}): ${errs.join('; ')}\n      request: ${x.requestBody.slice(0, 300)}`);
  } else {
    passed++;
  }
}

let files;
try {
  files = readdirSync(dir).filter((f) => f.endsWith('.jsonl')).sort();
} catch (e) {
  console.error(`openapi-responses: cannot read ${dir}: ${e.message}`);
  process.exit(2);
}
let total = 0;
for (const f of files) {
  const lines = readFileSync(path.join(dir, f), 'utf8').split('\n');
  lines.forEach((line, i) => {
    if (!line) return;
    total++;
    let x;
    try {
      x = JSON.parse(line);
    } catch (e) {
      fail('unreadable record', `${f}:${i + 1}`);
      return;
    }
    check(x, `${f}:${i + 1}`);
  });
}
let failed = 0;
for (const [kind, msgs] of failures) {
  failed += msgs.length;
  console.log(`!! ${msgs.length} ${kind}:`);
  for (const m of msgs.slice(0, 5)) console.log(`   ${m}`);
  if (msgs.length > 5) console.log(`   ... and ${msgs.length - 5} more`);
}
if (verbose) for (const [k, n] of [...seen].sort()) console.log(`${String(n).padStart(6)}  ${k}`);
const ops = new Set([...seen.keys()].map((k) => k.replace(/ \d+$/, '')).filter((k) => !k.startsWith('(')));
console.log(`openapi-responses: ${total} answers of lipad, ${ops.size} operations, ${seen.size} operation+status pairs; ${requests} request bodies lipad took`);
if (total === 0) {
  console.log('!! nothing was recorded');
  failed++;
}
console.log(`openapi-responses: ${passed} passed, ${failed} failed`);
process.exit(failed ? 1 : 0);
