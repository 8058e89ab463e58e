// Fails when src/lib/api/schema.d.ts is stale: regenerates it from the OpenAPI
// document into a temporary file and compares. Fix with `npm run gen:api`.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const dir = mkdtempSync(join(tmpdir(), 'tally-api-'));
const fresh = join(dir, 'schema.d.ts');
try {
  execFileSync('npx', ['openapi-typescript', '../event/openapi/openapi.json', '-o', fresh], { stdio: 'inherit' });
  if (readFileSync(fresh, 'utf8') !== readFileSync('src/lib/api/schema.d.ts', 'utf8')) {
    console.error('src/lib/api/schema.d.ts is out of date with ../event/openapi/openapi.json: run `npm run gen:api`.');
    process.exitCode = 1;
  } else {
    console.log('src/lib/api/schema.d.ts is up to date.');
  }
} finally {
  rmSync(dir, { recursive: true, force: true });
}
