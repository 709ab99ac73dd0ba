// The docs cannot drift from the code: every relative link and anchor in the Markdown resolves, and
// every command in README.md and run.md names something that exists: an npm script, a file, a CLI
// subcommand whose --help runs, or (for curl) a route in the OpenAPI document.
import { expect } from 'chai';
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import type { ApiHarness } from '../support/api-harness.js';
import { startApi } from '../support/api-harness.js';

const root = resolve(import.meta.dirname, '../..');
const read = (path: string) => readFileSync(join(root, path), 'utf8');

function markdownFiles(dir = root): string[] {
  const files: string[] = [];
  for (const name of readdirSync(dir)) {
    if (name === 'node_modules' || name.startsWith('.') || name === 'data' || name === 'dist') continue;
    const path = join(dir, name);
    if (statSync(path).isDirectory()) files.push(...markdownFiles(path));
    else if (name.endsWith('.md')) files.push(relative(root, path));
  }
  return files;
}

/** GitHub's heading anchors: lower case, punctuation dropped, spaces to hyphens. */
export const slugOf = (heading: string): string =>
  heading
    .trim()
    .toLowerCase()
    .replace(/[`*_]/g, '')
    .replace(/[^\p{L}\p{N}\s-]/gu, '')
    .replace(/\s/g, '-');

function anchorsOf(markdown: string): Set<string> {
  const anchors = new Set<string>();
  const seen = new Map<string, number>();
  let fenced = false;
  for (const line of markdown.split('\n')) {
    if (line.startsWith('```')) fenced = !fenced;
    const match = !fenced && /^#{1,6}\s+(.*)$/.exec(line);
    if (!match) continue;
    const slug = slugOf(match[1] ?? '');
    const count = seen.get(slug) ?? 0;
    anchors.add(count === 0 ? slug : `${slug}-${count}`);
    seen.set(slug, count + 1);
  }
  return anchors;
}

/** Command lines inside code blocks (bare, sh, bash, shell, console), continuations joined, comments cut. */
function commandsOf(markdown: string): string[] {
  const commands: string[] = [];
  let inShell = false;
  let pending = '';
  for (const raw of markdown.split('\n')) {
    if (raw.startsWith('```')) {
      inShell = !inShell && /^```(sh|bash|shell|console)?\s*$/.test(raw);
      pending = '';
      continue;
    }
    if (!inShell) continue;
    let line = raw.replace(/\s+#\s.*$/, '').trim();
    if (line.startsWith('$ ')) line = line.slice(2);
    if (pending) line = `${pending} ${line}`;
    if (line.endsWith('\\')) {
      pending = line.slice(0, -1).trim();
      continue;
    }
    pending = '';
    if (/^(npm|node|npx|curl)\b/.test(line) || /^[A-Z_]+=\S*\s+(npm|node|npx)\b/.test(line))
      commands.push(line);
  }
  return commands;
}

/** Command-line tools whose documented `--help` the check runs (never a server or a benchmark). */
const helpfulClis = new Set([
  'scripts/replay.ts',
  'scripts/simulate.ts',
  'scripts/loadtest.ts',
  'scripts/chaos.ts',
]);

const scripts = (JSON.parse(read('package.json')) as { scripts: Record<string, string> }).scripts;

describe('docs', () => {
  const files = markdownFiles();

  it('finds the documents the project promises', () => {
    for (const path of ['README.md', 'run.md', 'docs/architecture.md', 'docs/api.md'])
      expect(files).to.include(path);
  });

  describe('every relative link resolves', () => {
    for (const file of files) {
      it(file, () => {
        const text = read(file);
        const broken: string[] = [];
        for (const match of text.matchAll(/\]\(([^)\s]+)\)/g)) {
          const target = match[1] as string;
          if (/^[a-z]+:/i.test(target) || (target.startsWith('#') === false && target.startsWith('mailto:')))
            continue;
          const [path, anchor] = target.split('#') as [string, string | undefined];
          const targetFile = path === '' ? file : join(dirname(file), path);
          if (!existsSync(join(root, targetFile))) {
            broken.push(`${target}: no such file`);
            continue;
          }
          if (anchor && targetFile.endsWith('.md') && !anchorsOf(read(targetFile)).has(anchor)) {
            broken.push(`${target}: no heading with that anchor`);
          }
        }
        expect(broken, `broken links in ${file}`).to.deep.equal([]);
      });
    }
  });

  describe('every command in README.md and run.md names something real', function () {
    this.timeout(120_000);
    let api: ApiHarness;
    let routes: { method: string; pattern: RegExp }[] = [];
    before(async () => {
      api = await startApi();
      const paths = (await api.request('GET', '/openapi.json', { as: null })).json['paths'] as Record<
        string,
        object
      >;
      routes = Object.entries(paths).flatMap(([path, item]) =>
        Object.keys(item).map((method) => ({
          method: method.toUpperCase(),
          pattern: new RegExp(`^${path.replace(/\{[^}]+\}/g, '[^/?]+')}(\\?.*)?$`),
        })),
      );
    });
    after(() => api.cleanup());
    const helpChecked = new Set<string>();
    for (const file of ['README.md', 'run.md']) {
      for (const command of commandsOf(read(file))) {
        it(`${file}: ${command.slice(0, 100)}`, () => {
          for (const part of command.split(/\s*(?:&&|\|\||;|\|)\s*/)) {
            const words = part.replace(/^([A-Z_]+=\S*\s+)+/, '').split(/\s+/);
            const [tool, first, second, third] = words;
            if (tool === 'npm') {
              if (first === 'run') expect(scripts, `npm script ${second}`).to.have.property(second as string);
              const subcommand = words[4];
              if (first === 'run' && second === 'replay' && subcommand && /^[a-z]/.test(subcommand)) {
                const key = `scripts/replay.ts ${subcommand} --help`;
                if (!helpChecked.has(key)) {
                  helpChecked.add(key);
                  execFileSync(
                    process.execPath,
                    ['--import', 'tsx', 'scripts/replay.ts', subcommand, '--help'],
                    {
                      cwd: root,
                      stdio: 'pipe',
                    },
                  );
                }
              } else if (first === 'start' || first === 'test') expect(scripts).to.have.property(first);
            } else if (tool === 'node') {
              const fileIndex = words.findIndex((word, i) => i > 0 && /\.(ts|js)$/.test(word));
              const script = words[fileIndex];
              if (!script) continue;
              expect(existsSync(join(root, script)), `${script} exists`).to.equal(true);
              const subcommand = words[fileIndex + 1];
              // A CLI that documents --help must answer it (for the replay CLI, per subcommand).
              const helpArgs =
                script === 'scripts/replay.ts' && subcommand && /^[a-z]/.test(subcommand)
                  ? [subcommand, '--help']
                  : ['--help'];
              const key = `${script} ${helpArgs.join(' ')}`;
              if (helpfulClis.has(script) && !helpChecked.has(key)) {
                helpChecked.add(key);
                execFileSync(process.execPath, ['--import', 'tsx', script, ...helpArgs], {
                  cwd: root,
                  stdio: 'pipe',
                });
              }
            } else if (tool === 'curl') {
              const url = words.find(
                (word) => /^['"]?(https?:\/\/|localhost|127\.0\.0\.1|\$)/.test(word) && word.includes('/v1/'),
              );
              if (!url) continue;
              const path = url
                .replace(/^['"]?/, '')
                .replace(/['"]$/, '')
                .replace(/^[^/]*\/\/[^/]+|^[^/]*(?=\/v1\/)/, '');
              const methodIndex = words.findIndex((word) => word === '-X');
              const method =
                methodIndex >= 0 ? (words[methodIndex + 1] ?? 'GET') : part.includes(' -d ') ? 'POST' : 'GET';
              expect(
                routes.some((route) => route.method === method && route.pattern.test(path)),
                `${method} ${path} is a documented route`,
              ).to.equal(true);
            } else if (tool === 'npx' && first === 'mocha') {
              expect(third ?? second, 'a test path').to.be.a('string');
            }
          }
        });
      }
    }
  });
});
