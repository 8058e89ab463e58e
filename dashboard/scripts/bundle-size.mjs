// Prints the gzipped size of every file of the production build (dist/, so
// run `npm run build` first) and fails when the total is over the budget.
// Sizes are gzip level 9 in kB of 1000 bytes, as Vite reports them; the
// total counts every chunk, the lazily loaded ones too.
//
//   node scripts/bundle-size.mjs [dir] [--budget-kb=150]
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { gzipSync } from 'node:zlib';

const args = process.argv.slice(2);
const dir = args.find((a) => !a.startsWith('--')) ?? 'dist';
const budget = Number(args.find((a) => a.startsWith('--budget-kb='))?.split('=')[1] ?? 150);

function files(d) {
  return readdirSync(d).flatMap((name) => {
    const path = join(d, name);
    return statSync(path).isDirectory() ? files(path) : [path];
  });
}

const rows = files(dir)
  .filter((f) => /\.(js|css|html)$/.test(f))
  .map((f) => {
    const raw = readFileSync(f);
    return { file: relative(dir, f), raw: raw.length / 1000, gzip: gzipSync(raw, { level: 9 }).length / 1000 };
  })
  .sort((a, b) => b.gzip - a.gzip);

const total = rows.reduce((sum, r) => sum + r.gzip, 0);
for (const r of rows) console.log(`${r.gzip.toFixed(2).padStart(8)} kB gzip ${r.raw.toFixed(2).padStart(9)} kB  ${r.file}`);
console.log(`${total.toFixed(2).padStart(8)} kB gzip total (budget ${budget} kB)`);
if (total > budget) {
  console.error(`over budget by ${(total - budget).toFixed(2)} kB`);
  process.exitCode = 1;
}
