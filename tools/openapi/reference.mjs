// Writes the API reference in Markdown (docs/api-reference.md) from the
// OpenAPI document (docs/openapi.json): every operation by tag, with who may
// call it, its parameters, its request body's fields and its responses, then
// every shape the responses name. Plain node, no package.
//
//   node tools/openapi/reference.mjs [docs/openapi.json] > docs/api-reference.md
//
// make docs-api rewrites the file; tools/openapi/lint.sh fails when the
// committed file is not what this script makes of the document.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const doc = JSON.parse(readFileSync(process.argv[2] || path.join(root, 'docs/openapi.json'), 'utf8'));
const out = [];
const w = (s = '') => out.push(s);
const cell = (s) => String(s ?? '').replace(/\|/g, '\\|').replace(/\n+/g, ' ');
const anchor = (s) => s.toLowerCase().replace(/[^a-z0-9 -]/g, '').replace(/ /g, '-');
const refName = (r) => r.split('/').pop();

function resolve(obj) {
  while (obj && obj.$ref) {
    obj = obj.$ref.replace(/^#\//, '').split('/').map((s) => s.replace(/~1/g, '/').replace(/~0/g, '~'))
      .reduce((o, k) => (o ? o[k] : undefined), doc);
  }
  return obj;
}

// a schema in a few words: a link to a named shape, or its type and limits
function type(s) {
  if (!s || Object.keys(s).length === 0) return 'any';
  if (s.$ref) return `[${refName(s.$ref)}](#${anchor(refName(s.$ref))})`;
  if ('const' in s) return `\`${JSON.stringify(s.const)}\``;
  if (s.oneOf || s.anyOf) return (s.oneOf || s.anyOf).map(type).join(' or ');
  if (s.allOf) return s.allOf.map(type).join(' and ');
  let t = Array.isArray(s.type) ? s.type.join(' or ') : s.type || 'any';
  if (t === 'array') t = `array of ${type(s.items)}`;
  else if (t === 'object' && s.properties) t = `object {${Object.keys(s.properties).join(', ')}}`;
  return t;
}

function limits(s) {
  if (!s) return '';
  const l = [];
  if (s.enum) l.push(s.enum.map((v) => `\`${v}\``).join(', '));
  if (s.format) l.push(s.format);
  if (s.minLength !== undefined || s.maxLength !== undefined) l.push(`${s.minLength ?? 0}-${s.maxLength ?? '...'} characters`);
  if (s.minimum !== undefined) l.push(`from ${s.minimum}`);
  if (s.exclusiveMinimum !== undefined) l.push(`above ${s.exclusiveMinimum}`);
  if (s.maximum !== undefined) l.push(`at most ${s.maximum}`);
  if (s.pattern) l.push(`\`${s.pattern}\``);
  if (s.description) l.push(s.description);
  return l.join('; ');
}

function fields(schema) {
  const s = resolve(schema);
  if (!s || !s.properties) {
    w(`Body: ${type(schema)}.`);
    w();
    return;
  }
  const req = new Set(s.required || []);
  w('| field | type | required | limits |');
  w('|---|---|---|---|');
  for (const [k, v] of Object.entries(s.properties)) w(`| \`${k}\` | ${cell(type(v))} | ${req.has(k) ? 'yes' : ''} | ${cell(limits(v))} |`);
  w();
}

// the fields of an inline object schema, nested inline objects flattened
// (`data.amount`); a named shape stays a link
function rows(schema, prefix, out, depth) {
  const s = schema && !schema.$ref ? schema : null;
  if (!s || !s.properties || depth > 3) return out;
  const req = new Set(s.required || []);
  for (const [k, v] of Object.entries(s.properties)) {
    const name = prefix + k;
    const t = v && !v.$ref && v.properties ? 'object' : type(v); // its fields follow
    out.push(`| \`${name}\` | ${cell(t)} | ${req.has(k) ? 'yes' : ''} | ${cell(limits(v))} |`);
    rows(v, name + '.', out, depth + 1);
    if (v.type === 'array' || (Array.isArray(v.type) && v.type.includes('array'))) rows(v.items, name + '[].', out, depth + 1);
  }
  return out;
}

function who(op) {
  const sec = op.security ?? doc.security ?? [];
  if (!sec.length) return 'anyone';
  return sec.map((r) => (Object.keys(r).length ? Object.keys(r).map((k) => `\`${k}\``).join(' and ') : 'anyone')).join(', or ');
}

w('# lipa API reference');
w();
w('Generated from [openapi.json](openapi.json) (served by lipad at `GET /openapi.json`) by `make docs-api`: edit the');
w('document, not this page. The manual behind it, with the rules of each face: [api.md](api.md).');
w();
w(doc.info.description);
w();
w('## Keys');
w();
w('| name | how it is sent | what it is |');
w('|---|---|---|');
for (const [k, v] of Object.entries(doc.components.securitySchemes)) {
  const how = v.type === 'http' ? `\`Authorization: Bearer ...\`` : `${v.in} \`${v.name}\``;
  w(`| \`${k}\` | ${how} | ${cell(v.description)} |`);
}
w();
w('Contents:');
w();
for (const t of doc.tags) w(`- [${t.name}](#${anchor(t.name)})`);
w('- [Shapes](#shapes)');
w();
const METHODS = ['get', 'put', 'post', 'delete', 'options', 'head', 'patch'];
for (const t of doc.tags) {
  w(`## ${t.name}`);
  w();
  w(t.description);
  w();
  for (const [p, item] of Object.entries(doc.paths)) {
    for (const m of METHODS) {
      const op = item[m];
      if (!op || !(op.tags || []).includes(t.name)) continue;
      w(`### ${m.toUpperCase()} ${p}`);
      w();
      w(`${op.summary}. Who may call: ${who(op)}.${op.description ? ' ' + op.description : ''}`);
      w();
      if (op.parameters && op.parameters.length) {
        w('| parameter | in | type | required | limits |');
        w('|---|---|---|---|---|');
        for (const x of op.parameters.map(resolve))
          w(`| \`${x.name}\` | ${x.in} | ${cell(type(x.schema))} | ${x.required ? 'yes' : ''} | ${cell([limits(x.schema), x.description].filter(Boolean).join('; '))} |`);
        w();
      }
      if (op.requestBody) {
        for (const [ct, c] of Object.entries(op.requestBody.content)) {
          w(`Request body (\`${ct}\`${op.requestBody.required ? '' : ', optional'}):`);
          w();
          fields(c.schema);
        }
      }
      w('| status | answer | body |');
      w('|---|---|---|');
      for (const [st, r0] of Object.entries(op.responses)) {
        const r = resolve(r0);
        const bodies = Object.entries(r.content || {}).map(([ct, c]) => `${ct}: ${type(c.schema)}`);
        w(`| ${st} | ${cell(r.description)} | ${cell(bodies.join('; ') || 'none')} |`);
      }
      w();
      // the fields of the success answers the document spells out in place
      for (const [st, r0] of Object.entries(op.responses)) {
        if (!st.startsWith('2')) continue;
        for (const [ct, c] of Object.entries(resolve(r0).content || {})) {
          const r = rows(c.schema, '', [], 0);
          if (!r.length) continue;
          w(`${st} (\`${ct}\`):`);
          w();
          w('| field | type | always | limits |');
          w('|---|---|---|---|');
          r.forEach((x) => w(x));
          w();
        }
      }
    }
  }
}
w('## Shapes');
w();
for (const [name, s] of Object.entries(doc.components.schemas)) {
  w(`### ${name}`);
  w();
  if (s.description) {
    w(s.description);
    w();
  }
  if (s.properties) fields(s);
  else if (s.oneOf || s.anyOf) {
    w('One of:');
    w();
    for (const x of s.oneOf || s.anyOf) {
      if (x.properties) fields(x);
      else w(`- ${type(x)}`);
    }
    w();
  }
}
const g = doc['x-lipa-generic'];
if (g) {
  w('## What lipad answers before any route');
  w();
  w('| status | answer |');
  w('|---|---|');
  for (const [st, r] of Object.entries(g)) w(`| ${st} | ${cell(r.description)} |`);
  w();
}
process.stdout.write(out.join('\n').replace(/\n{3,}/g, '\n\n').trimEnd() + '\n');
