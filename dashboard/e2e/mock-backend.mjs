// A small in-memory stand-in for the ingestor, query API and processor admin,
// following docs/api.md, so the dashboard and the e2e script can be exercised
// without Kafka/ClickHouse/Redis:
//
//   node e2e/mock-backend.mjs &     # listens on 127.0.0.1:28080/28081/28082
//   TALLY_INGESTOR_URL=http://127.0.0.1:28080 TALLY_QUERYAPI_URL=http://127.0.0.1:28081 \
//   TALLY_PROCESSOR_ADMIN_URL=http://127.0.0.1:28082 npm run dev
//
// Ports: MOCK_INGESTOR_PORT, MOCK_QUERYAPI_PORT, MOCK_ADMIN_PORT.
// MOCK_FAULT_INJECTION=false makes the fault switchboard answer 403, as the
// processor does without TALLY_FAULT_INJECTION.
//
// API keys work as in docs/api.md ("Authentication and tenants"): every
// route but the health checks needs `Authorization: Bearer <key>` or
// `X-API-Key` (401 without a valid one, 403 without the scope), the key's
// tenant is the caller's, an admin may name another with `tenant=`, and
// /v1/whoami and /v1/admin/keys (create, list, revoke) and /v1/admin/topics
// answer on the query API. Events belong to the tenant of the key that sent
// them. Three keys exist from the start (MOCK_KEYS below): an admin key, the
// dashboard server's key (admin, as the local stack's) and an ingest+query
// key of the tenant `default` (their secrets: mock-keys.mjs).
//
// Amounts are exact decimals (9 fractional digits, as ClickHouse's
// Decimal(38, 9)): a string amount is kept digit for digit, a JSON number as
// its shortest text; sums and averages are computed on scaled BigInts and
// sent both as numbers and as the *Exact strings of docs/api.md.
//
// It is a test double, not a model of the real pipeline's guarantees.
import { createHash } from 'node:crypto';
import { createServer } from 'node:http';
import { MOCK_KEYS } from './mock-keys.mjs';

const PORTS = {
  ingest: Number(process.env.MOCK_INGESTOR_PORT || 28080),
  query: Number(process.env.MOCK_QUERYAPI_PORT || 28081),
  admin: Number(process.env.MOCK_ADMIN_PORT || 28082),
};
const FAULT_INJECTION = process.env.MOCK_FAULT_INJECTION !== 'false';
const PARTITIONS = 3;
const TOPIC = 'events.raw';

const TENANT_PATTERN = /^[a-z0-9][a-z0-9_.-]{0,62}$/;
const SCOPES = ['ingest', 'query', 'admin'];
const keys = new Map(); // secret -> { id, tenant, scopes, name, createdAt, expiresAt, revoked, revokedAt, rateLimit }
const topics = [{ topic: TOPIC, tenant: 'default' }];
let keySeq = 0;

function addKey(secret, fields) {
  const key = { id: `key_${(++keySeq).toString(36).padStart(4, '0')}`, createdAt: new Date().toISOString(), revoked: false, ...fields };
  keys.set(secret, key);
  return key;
}
addKey(MOCK_KEYS.admin, { tenant: 'default', scopes: ['admin'], name: 'mock-admin' });
addKey(MOCK_KEYS.dashboard, { tenant: 'default', scopes: ['admin'], name: 'mock-dashboard' });
addKey(MOCK_KEYS.default, { tenant: 'default', scopes: ['ingest', 'query'], name: 'mock-default' });

function credential(headers) {
  const authz = headers.authorization;
  if (authz) {
    const [scheme, ...rest] = authz.split(' ');
    if (scheme.toLowerCase() === 'bearer') return rest.join(' ').trim();
    if (scheme.toLowerCase() === 'basic') return Buffer.from(rest.join(''), 'base64').toString().split(':')[0];
    return '';
  }
  return String(headers['x-api-key'] ?? '').trim();
}

/**
 * Authenticates a request for scope ('' for any key). Answers the failure
 * itself and returns undefined, or returns { key, tenant, named }.
 */
function authenticate(req, res, url, scope) {
  const text = credential(req.headers);
  if (!text) return void fail(res, 401, 'unauthorized', 'an API key is required: send Authorization: Bearer <key> or X-API-Key: <key>');
  const key = keys.get(text);
  if (!key) return void fail(res, 401, 'unauthorized', 'the API key is not valid');
  if (key.revoked) return void fail(res, 401, 'unauthorized', 'the API key was revoked');
  if (key.expiresAt && Date.parse(key.expiresAt) <= Date.now()) return void fail(res, 401, 'unauthorized', 'the API key has expired');
  const admin = key.scopes.includes('admin');
  if (scope && !admin && !key.scopes.includes(scope)) return void fail(res, 403, 'forbidden', `the API key lacks the "${scope}" scope`);
  const named = url.searchParams.get('tenant');
  url.searchParams.delete('tenant');
  if (named && named !== key.tenant) {
    if (!admin) return void fail(res, 403, 'forbidden', 'only an admin key may act for another tenant');
    if (!TENANT_PATTERN.test(named)) return void fail(res, 400, 'invalid_parameter', `tenant "${named}" is not a valid tenant name`);
  }
  return { key, tenant: named || key.tenant, named: Boolean(named) };
}

const publicKey = ({ id, tenant, scopes, name, createdAt, expiresAt, revoked, revokedAt, rateLimit }) => ({
  id, tenant, scopes, ...(name ? { name } : {}), createdAt, ...(expiresAt ? { expiresAt } : {}), revoked, ...(revokedAt ? { revokedAt } : {}), ...(rateLimit ? { rateLimit } : {}),
});

const raw = []; // every produced record: { partition, offset, text, receivedAt, simulateFailure, key, state, ... }
const nextOffset = new Array(PARTITIONS).fill(0);
const committed = new Array(PARTITIONS).fill(0);
const events = new Map(); // eventId -> { canonical, record, copies: [] }
const faults = { clickhouse: { mode: 'ok', slowMs: 0, until: null }, redis: { mode: 'ok', until: null } };
let retries = 0;
let batches = 0;
let lastError = '';
const processedAt = [];

const pick = (o, names) => {
  for (const n of names) {
    for (const src of [o, o.payload ?? {}]) if (src[n] !== undefined && src[n] !== null && src[n] !== '') return src[n];
  }
  return undefined;
};

// --- exact decimals: BigInt scaled by 10^9 ----------------------------------
const SCALE = 9;
const UNIT = 10n ** BigInt(SCALE);
const DECIMAL = /^([+-]?)(\d+)(?:\.(\d+))?$/;

/** Decimal text → scaled BigInt, or undefined (not a plain decimal, or more than 9 fractional digits). */
function toScaled(text) {
  const m = DECIMAL.exec(String(text).trim());
  if (!m) return undefined;
  const frac = (m[3] ?? '').replace(/0+$/, '');
  if (frac.length > SCALE) return undefined;
  const v = BigInt(m[2] + frac.padEnd(SCALE, '0'));
  return m[1] === '-' ? -v : v;
}

/** Scaled BigInt → shortest exact text ("1200", "-0.5"). */
function fromScaled(v) {
  const neg = v < 0n;
  const abs = neg ? -v : v;
  const frac = (abs % UNIT).toString().padStart(SCALE, '0').replace(/0+$/, '');
  return `${neg ? '-' : ''}${abs / UNIT}${frac ? `.${frac}` : ''}`;
}

/** v / n rounded half away from zero, as the query API averages. */
function divScaled(v, n) {
  const d = BigInt(n);
  const q = v / d;
  const r = v % d;
  const twice = (r < 0n ? -r : r) * 2n;
  return twice >= d ? q + (v < 0n ? -1n : 1n) : q;
}

/** A JSON number's exact text, for amounts sent as numbers (JSON.parse already made them doubles). */
function numberText(n) {
  const t = String(n);
  if (!/e/i.test(t)) return t;
  return n.toFixed(SCALE);
}

function normalize(obj, receivedAt, key, tenant = 'default') {
  if (typeof obj !== 'object' || obj === null || Array.isArray(obj)) return { error: { code: 'event_not_object', message: 'an event must be a JSON object' } };
  const clientId = pick(obj, ['source', 'client_id', 'clientId', 'client', 'origin']);
  if (clientId === undefined) return { error: { code: 'client_missing', field: 'clientId', message: 'no client id field' } };
  const metric = String(pick(obj, ['metric', 'event_type', 'type', 'eventType', 'name']) ?? 'unknown');
  const rawAmount = pick(obj, ['amount', 'value', 'count', 'quantity', 'total', 'price']);
  const scaled = rawAmount === undefined ? undefined : toScaled(typeof rawAmount === 'number' ? numberText(rawAmount) : rawAmount);
  if (scaled === undefined) return { error: { code: 'amount_invalid', field: 'amount', message: `amount ${JSON.stringify(rawAmount)} is not a number` } };
  const amountExact = fromScaled(scaled);
  const amount = Number(amountExact);
  const rawTs = pick(obj, ['timestamp', 'time', 'date', 'created_at', 'createdAt', 'ts']);
  let ts = rawTs === undefined ? new Date(receivedAt) : new Date(typeof rawTs === 'number' && rawTs < 1e12 ? rawTs * 1000 : rawTs);
  if (typeof rawTs === 'string' && /^\d{4}\/\d{2}\/\d{2}$/.test(rawTs)) ts = new Date(`${rawTs.replaceAll('/', '-')}T00:00:00Z`);
  if (Number.isNaN(ts.getTime())) return { error: { code: 'timestamp_invalid', field: 'timestamp', message: `timestamp ${JSON.stringify(rawTs)} is not a time` } };
  const canonical = { clientId: String(clientId), metric, amount, amountExact, timestamp: ts.toISOString() };
  // The tenant is part of the event id (except for `default`), as in the real pipeline.
  const basis = (tenant === 'default' ? '' : `${tenant}\u0000`) + (key ? `${canonical.clientId}\u0000${key}` : JSON.stringify([canonical.clientId, metric, amountExact, ts.getTime()]));
  return {
    canonical: {
      eventId: createHash('sha256').update(basis).digest('hex'),
      ...canonical,
      ...(rawTs === undefined ? { timestampDefaulted: true } : {}),
      ...(key ? { idempotencyKey: key } : {}),
    },
  };
}

const active = (f) => f.mode !== 'ok' && (!f.until || Date.parse(f.until) > Date.now());

// The "processor": every 200 ms, take pending records in order per partition.
setInterval(() => {
  for (const f of [faults.clickhouse, faults.redis]) if (f.until && Date.parse(f.until) <= Date.now()) Object.assign(f, { mode: 'ok', until: null });
  const pending = raw.filter((r) => r.state === 'pending').slice(0, 500);
  if (!pending.length) return;
  if (active(faults.clickhouse) && faults.clickhouse.mode === 'fail') {
    retries++;
    lastError = 'insert batch: clickhouse: injected failure';
    return;
  }
  if (pending.some((r) => r.simulateFailure && !r.failedOnce)) {
    for (const r of pending) if (r.simulateFailure) r.failedOnce = true;
    retries++;
    lastError = 'insert batch: simulated failure';
    return;
  }
  for (const r of pending) {
    const n = normalize(r.json, r.receivedAt, r.key, r.tenant);
    if (n.error) Object.assign(r, { state: 'rejected', rejection: n.error });
    else if (events.has(n.canonical.eventId)) {
      r.state = 'duplicate';
      r.eventId = n.canonical.eventId;
      events.get(n.canonical.eventId).copies.push({ record: r, detectedAt: new Date().toISOString() });
    } else {
      r.state = 'processed';
      r.eventId = n.canonical.eventId;
      events.set(r.eventId, { canonical: n.canonical, record: r, copies: [], tenant: r.tenant });
      processedAt.push(Date.now());
    }
    committed[r.partition] = Math.max(committed[r.partition], r.offset + 1);
  }
  batches++;
  lastError = '';
}, 200);

function produce(json, text, key, simulateFailure, tenant) {
  const id = normalize(json, new Date().toISOString(), key, tenant).canonical?.eventId ?? '';
  const partition = id ? parseInt(id.slice(0, 8), 16) % PARTITIONS : Math.floor(Math.random() * PARTITIONS);
  const record = { partition, offset: nextOffset[partition]++, text, json, key, simulateFailure, tenant, receivedAt: new Date().toISOString(), state: 'pending' };
  raw.push(record);
}

/** The pipeline's numbers; for one tenant's records when tenant is given (an admin without tenant= sees all). */
function stats(tenant) {
  const mine = tenant ? raw.filter((r) => r.tenant === tenant) : raw;
  const by = (s) => mine.filter((r) => r.state === s).length;
  const reasons = new Map();
  for (const r of mine) if (r.state === 'rejected') reasons.set(r.rejection.code, (reasons.get(r.rejection.code) ?? 0) + 1);
  const recent = processedAt.filter((t) => t > Date.now() - 10_000).length;
  const s = {
    received: mine.length,
    processed: by('processed'),
    duplicates: by('duplicate'),
    conflicts: 0,
    rejected: by('rejected'),
    deadLettered: 0,
    forwarded: 0,
    skipped: 0,
    pending: by('pending'),
    inFlight: 0,
    throughput: { processedPerSecond: recent / 10, windowSeconds: 10 },
    lag: nextOffset.map((end, partition) => ({ partition, lag: end - committed[partition], pending: end - committed[partition] })),
    rejectedByReason: [...reasons].map(([code, count]) => ({ code, count })),
    asOf: new Date().toISOString(),
  };
  s.reconciled = s.received === s.processed + s.duplicates + s.rejected + s.deadLettered + s.pending + s.inFlight;
  return s;
}

const source = (r) => ({ topic: TOPIC, partition: r.partition, offset: r.offset });
const recordId = (r) => (r.state === 'processed' ? r.eventId : `raw-${r.partition}-${r.offset}`);

function summary(r) {
  const s = { id: recordId(r), status: r.state === 'pending' ? 'processed' : r.state, receivedAt: r.receivedAt, source: source(r) };
  const e = r.eventId && events.get(r.eventId);
  if (e) Object.assign(s, { eventId: r.eventId, clientId: e.canonical.clientId, metric: e.canonical.metric, amount: e.canonical.amount, amountExact: e.canonical.amountExact, timestamp: e.canonical.timestamp });
  if (r.rejection) s.rejection = r.rejection;
  return s;
}

function send(res, status, body, headers = {}) {
  res.writeHead(status, { 'Content-Type': 'application/json', ...headers });
  res.end(JSON.stringify(body));
}
const fail = (res, status, code, message) => send(res, status, { error: { code, message } });

async function body(req) {
  const chunks = [];
  for await (const c of req) chunks.push(c);
  return Buffer.concat(chunks).toString('utf8');
}

function health(res, path) {
  if (path === '/healthz' || path === '/readyz') return send(res, 200, { status: 'ok' }), true;
  return false;
}

const ingest = createServer(async (req, res) => {
  const url = new URL(req.url, 'http://x');
  if (health(res, url.pathname)) return;
  if (req.method !== 'POST' || url.pathname !== '/v1/events') return fail(res, 404, 'not_found', 'no such route');
  const who = authenticate(req, res, url, 'ingest');
  if (!who) return;
  const simulateFailure = url.searchParams.get('simulateFailure') === 'true';
  if (simulateFailure && !FAULT_INJECTION) return fail(res, 403, 'fault_injection_disabled', 'simulateFailure needs TALLY_FAULT_INJECTION=true');
  let parsed;
  try {
    parsed = JSON.parse(await body(req));
  } catch (err) {
    return fail(res, 400, 'body_invalid', `request body is not valid JSON: ${err.message}`);
  }
  const list = Array.isArray(parsed) ? parsed : [parsed];
  const key = req.headers['idempotency-key'];
  const results = list.map((ev, index) => {
    const k = key ? (Array.isArray(parsed) ? `${key}:${index}` : String(key)) : undefined;
    const n = normalize(ev, new Date().toISOString(), k, who.tenant);
    if (n.error) return { index, status: 'rejected', error: n.error };
    const duplicate = events.has(n.canonical.eventId);
    produce(ev, JSON.stringify(ev), k, simulateFailure, who.tenant);
    return { index, eventId: n.canonical.eventId, status: 'accepted', duplicate };
  });
  const accepted = results.filter((r) => r.status === 'accepted').length;
  send(res, 202, { accepted, rejected: results.length - accepted, results });
});

async function keyRoutes(req, res, url) {
  if (url.pathname === '/v1/whoami') {
    const who = authenticate(req, res, url, '');
    if (!who) return true;
    const { id, tenant, scopes, name, expiresAt } = who.key;
    send(res, 200, { keyId: id, tenant: who.tenant, keyTenant: tenant, scopes, ...(name ? { name } : {}), ...(expiresAt ? { expiresAt } : {}) });
    return true;
  }
  if (!url.pathname.startsWith('/v1/admin/')) return false;
  const who = authenticate(req, res, url, 'admin');
  if (!who) return true;
  if (url.pathname === '/v1/admin/topics' && req.method === 'GET') return send(res, 200, { topics }), true;
  if (url.pathname === '/v1/admin/keys' && req.method === 'GET') {
    const list = [...keys.values()].filter((k) => !who.named || k.tenant === who.tenant).map(publicKey);
    return send(res, 200, { keys: list }), true;
  }
  if (url.pathname === '/v1/admin/keys' && req.method === 'POST') {
    let b;
    try {
      b = JSON.parse(await body(req));
    } catch (err) {
      return fail(res, 400, 'invalid_body', `the body must be one JSON object of the documented shape: ${err.message}`), true;
    }
    const scopes = Array.isArray(b?.scopes) ? b.scopes : [];
    let problem;
    if (typeof b?.tenant !== 'string' || !TENANT_PATTERN.test(b.tenant)) problem = `tenant ${JSON.stringify(b?.tenant)} is not a valid tenant name`;
    else if (!scopes.length || scopes.some((x) => !SCOPES.includes(x))) problem = `scopes: one or more of ${SCOPES.join(', ')}`;
    else if (b.expiresAt !== undefined && !(Date.parse(b.expiresAt) > Date.now())) problem = 'expiresAt must be in the future';
    else if (b.rateLimit !== undefined && !(b.rateLimit?.eventsPerSecond > 0)) problem = 'rateLimit.eventsPerSecond must be positive and quotaPerDay not negative';
    if (problem) return fail(res, 400, 'invalid_body', problem), true;
    const secret = `tly_${createHash('sha256').update(`${Date.now()}:${Math.random()}`).digest('base64url').slice(0, 32)}`;
    const key = addKey(secret, { tenant: b.tenant, scopes, name: b.name || undefined, expiresAt: b.expiresAt, rateLimit: b.rateLimit });
    return send(res, 201, { ...publicKey(key), key: secret }), true;
  }
  const m = url.pathname.match(/^\/v1\/admin\/keys\/([^/]+)$/);
  if (m && req.method === 'DELETE') {
    const key = [...keys.values()].find((k) => k.id === decodeURIComponent(m[1]));
    if (!key) return fail(res, 404, 'not_found', 'no key with this id'), true;
    if (!key.revoked) Object.assign(key, { revoked: true, revokedAt: new Date().toISOString() });
    return send(res, 200, publicKey(key)), true;
  }
  return fail(res, 404, 'not_found', 'no such route'), true;
}

const queryApi = createServer(async (req, res) => {
  const url = new URL(req.url, 'http://x');
  const q = url.searchParams;
  if (health(res, url.pathname)) return;
  if (await keyRoutes(req, res, url)) return;
  const who = authenticate(req, res, url, 'query');
  if (!who) return;
  // Whose data: the caller's tenant; an admin without tenant= sees the whole pipeline's stats.
  const statsTenant = who.key.scopes.includes('admin') && !who.named ? undefined : who.tenant;
  const mine = (e) => e.tenant === who.tenant;
  if (url.pathname === '/v1/stats') return send(res, 200, stats(statsTenant));
  if (url.pathname === '/v1/stream') {
    res.writeHead(200, { 'Content-Type': 'text/event-stream', 'Cache-Control': 'no-cache', Connection: 'keep-alive' });
    const tick = () => res.write(`event: stats\ndata: ${JSON.stringify(stats(statsTenant))}\n\n`);
    tick();
    const timer = setInterval(tick, 1000);
    req.on('close', () => clearInterval(timer));
    return;
  }
  if (url.pathname === '/v1/events') {
    const from = q.get('from') ? Date.parse(q.get('from')) : -Infinity;
    const to = q.get('to') ? Date.parse(q.get('to')) : Infinity;
    const limit = Math.min(1000, Number(q.get('limit') || 50));
    const start = q.get('cursor') ? Number(Buffer.from(q.get('cursor'), 'base64url').toString()) : 0;
    const all = raw
      .filter(mine)
      .reverse()
      .map(summary)
      .filter((s) => (!q.get('clientId') || s.clientId === q.get('clientId')) && (!q.get('metric') || s.metric === q.get('metric')))
      .filter((s) => (!q.get('status') || s.status === q.get('status')) && Date.parse(s.receivedAt) >= from && Date.parse(s.receivedAt) < to);
    const page = all.slice(start, start + limit);
    const next = start + limit < all.length ? Buffer.from(String(start + limit)).toString('base64url') : null;
    return send(res, 200, { events: page, nextCursor: next });
  }
  const m = url.pathname.match(/^\/v1\/events\/(.+)$/);
  if (m) {
    const id = decodeURIComponent(m[1]);
    const e = events.get(id);
    const r = e ? e.record : raw.find((x) => `raw-${x.partition}-${x.offset}` === id);
    // Another tenant's event is 404, not 403.
    if (!r || !mine(r)) return fail(res, 404, 'event_not_found', `no event ${id}`);
    const owner = r.eventId ? events.get(r.eventId) : undefined;
    const detail = { id, status: r.state === 'pending' ? 'processed' : r.state, raw: r.text, receivedAt: r.receivedAt, source: source(r) };
    if (owner) detail.event = owner.canonical;
    if (r.rejection) detail.rejection = r.rejection;
    if (r.state === 'duplicate') detail.originalEventId = r.eventId;
    const copies = r.state === 'processed' && owner ? owner.copies : [];
    detail.duplicates = { count: copies.length, copies: copies.map((c) => ({ kind: 'duplicate', source: source(c.record), receivedAt: c.record.receivedAt, detectedAt: c.detectedAt })) };
    detail.conflicts = 0;
    return send(res, 200, detail);
  }
  if (url.pathname === '/v1/clients' || url.pathname === '/v1/metrics') {
    const field = url.pathname === '/v1/clients' ? 'clientId' : 'metric';
    const name = url.pathname === '/v1/clients' ? 'clients' : 'metrics';
    const prefix = q.get('prefix') ?? '';
    const limit = q.has('limit') ? Number(q.get('limit')) : 100;
    if (!Number.isInteger(limit) || limit < 1 || limit > 1000) return fail(res, 400, 'invalid_parameter', `limit: want an integer from 1 to 1000, got ${JSON.stringify(q.get('limit'))}`);
    const all = [...new Set([...events.values()].filter(mine).map((e) => e.canonical[field]))].filter((v) => v.startsWith(prefix)).sort();
    return send(res, 200, { [name]: all.slice(0, limit), truncated: all.length > limit });
  }
  if (url.pathname === '/v1/aggregations') {
    const groupBy = q.get('groupBy') || 'none';
    const interval = q.get('interval');
    if (!['none', 'clientId', 'metric', 'both'].includes(groupBy)) return fail(res, 400, 'group_by_invalid', 'groupBy must be none|clientId|metric|both');
    const clients = q.getAll('clientId');
    const metrics = q.getAll('metric');
    const from = q.get('from') ? Date.parse(q.get('from')) : -Infinity;
    const to = q.get('to') ? Date.parse(q.get('to')) : Infinity;
    const size = { minute: 60e3, hour: 3600e3, day: 86400e3 }[interval];
    const groups = new Map();
    const fresh = () => ({ count: 0, sum: 0n, min: undefined, max: undefined });
    const add = (g, c) => {
      const v = toScaled(c.amountExact);
      g.count++;
      g.sum += v;
      g.min = g.min === undefined || v < g.min ? v : g.min;
      g.max = g.max === undefined || v > g.max ? v : g.max;
    };
    const exact = (g) => {
      const avg = divScaled(g.sum, g.count);
      const text = { sumExact: fromScaled(g.sum), avgExact: fromScaled(avg), minExact: fromScaled(g.min), maxExact: fromScaled(g.max) };
      return { count: g.count, sum: Number(text.sumExact), sumExact: text.sumExact, avg: Number(text.avgExact), avgExact: text.avgExact, min: Number(text.minExact), minExact: text.minExact, max: Number(text.maxExact), maxExact: text.maxExact };
    };
    for (const { canonical: c } of [...events.values()].filter(mine)) {
      const t = Date.parse(c.timestamp);
      if ((clients.length && !clients.includes(c.clientId)) || (metrics.length && !metrics.includes(c.metric)) || t < from || t >= to) continue;
      const g0 = {};
      if (groupBy === 'clientId' || groupBy === 'both') g0.clientId = c.clientId;
      if (groupBy === 'metric' || groupBy === 'both') g0.metric = c.metric;
      const key = JSON.stringify(g0);
      if (!groups.has(key)) groups.set(key, { keys: g0, totals: fresh(), buckets: new Map() });
      const g = groups.get(key);
      add(g.totals, c);
      if (size) {
        const b = new Date(Math.floor(t / size) * size).toISOString();
        if (!g.buckets.has(b)) g.buckets.set(b, fresh());
        add(g.buckets.get(b), c);
      }
    }
    const out = [...groups.values()]
      .sort((a, b) => JSON.stringify(a.keys).localeCompare(JSON.stringify(b.keys)))
      .map(({ keys, totals, buckets }) => ({
        ...keys,
        ...exact(totals),
        ...(size ? { series: [...buckets].sort(([a], [b]) => a.localeCompare(b)).map(([bucket, p]) => ({ bucket, ...exact(p) })) } : {}),
      }));
    return send(res, 200, { groups: out, filters: { clientId: clients, metric: metrics, from: q.get('from'), to: q.get('to'), groupBy, interval: interval || null } });
  }
  fail(res, 404, 'not_found', 'no such route');
});

const admin = createServer(async (req, res) => {
  const url = new URL(req.url, 'http://x');
  if (health(res, url.pathname)) return;
  if (url.pathname === '/v1/status') {
    return send(res, 200, { ready: !active(faults.clickhouse) || faults.clickhouse.mode !== 'fail', assignedPartitions: [0, 1, 2], retries, lastError, batches });
  }
  if (url.pathname !== '/v1/faults') return fail(res, 404, 'not_found', 'no such route');
  if (!authenticate(req, res, url, 'admin')) return;
  if (!FAULT_INJECTION) return fail(res, 403, 'fault_injection_disabled', 'fault injection is disabled (TALLY_FAULT_INJECTION=false)');
  if (req.method === 'DELETE') {
    Object.assign(faults.clickhouse, { mode: 'ok', slowMs: 0, until: null });
    Object.assign(faults.redis, { mode: 'ok', until: null });
  } else if (req.method === 'PUT') {
    let b;
    try {
      b = JSON.parse(await body(req));
    } catch {
      return fail(res, 400, 'body_invalid', 'body is not JSON');
    }
    const f = faults[b.target];
    if (!f || !['ok', 'fail', 'slow'].includes(b.mode) || (b.target === 'redis' && b.mode === 'slow')) return fail(res, 400, 'fault_invalid', 'bad target or mode');
    f.mode = b.mode;
    f.until = b.mode !== 'ok' && b.durationSeconds > 0 ? new Date(Date.now() + b.durationSeconds * 1000).toISOString() : null;
    if (b.target === 'clickhouse') f.slowMs = b.mode === 'slow' ? b.slowMs ?? 500 : 0;
  }
  send(res, 200, faults);
});

ingest.listen(PORTS.ingest, '127.0.0.1');
queryApi.listen(PORTS.query, '127.0.0.1');
admin.listen(PORTS.admin, '127.0.0.1');
console.log(`mock backend: ingestor :${PORTS.ingest}, queryapi :${PORTS.query}, admin :${PORTS.admin}`);
