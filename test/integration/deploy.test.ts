import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseAllDocuments } from 'yaml';
import { loadConfigFile, parseConfigText } from '../../src/config/load.ts';
import type { FieldgateConfig } from '../../src/config/schema.ts';
import { validateModel } from '../../src/inference/index.ts';

const root = fileURLToPath(new URL('../../', import.meta.url));
// the secrets the examples reference; validation needs them set, their values do not matter
const env = { MQTT_PASSWORD: 'example-password', OPCUA_PASSWORD: 'example-password', HISTORIAN_TOKEN: 'example-token', FIELDGATE_TOKEN: 'example-token-123' };

async function modelProblems(cfg: FieldgateConfig, baseDir: string): Promise<string[]> {
  const problems: string[] = [];
  for (const m of cfg.models) problems.push(...(await validateModel(m, (p) => (p.startsWith('/') ? p : join(baseDir, p)))));
  return problems;
}

for (const file of readdirSync(join(root, 'deploy/examples')).filter((f) => f.endsWith('.yaml'))) {
  test(`example config validates: deploy/examples/${file}`, async () => {
    const loaded = loadConfigFile(join(root, 'deploy/examples', file), { env });
    assert.deepEqual(await modelProblems(loaded.config, loaded.baseDir), []);
  });
}

test('the compose config validates (with /app standing for the repository, as in the image)', async () => {
  const text = readFileSync(join(root, 'deploy/docker/fieldgate.yaml'), 'utf8').replaceAll('/app/', root);
  const cfg = parseConfigText(text, 'fieldgate.yaml', join(root, 'deploy/docker'), { env });
  assert.deepEqual(await modelProblems(cfg, root), []);
});

test('the Kubernetes ConfigMap holds a valid config; probes point at /healthz and /readyz', () => {
  const docs = parseAllDocuments(readFileSync(join(root, 'deploy/kubernetes/fieldgate.yaml'), 'utf8')).map((d) => d.toJS() as Record<string, never>);
  const cm = docs.find((d) => d.kind === 'ConfigMap') as { data: Record<string, string> } | undefined;
  assert.ok(cm, 'a ConfigMap');
  parseConfigText(cm.data['fieldgate.yaml']!, 'configmap:fieldgate.yaml', '/', { env });
  const text = readFileSync(join(root, 'deploy/kubernetes/fieldgate.yaml'), 'utf8');
  assert.match(text, /livenessProbe:\s*\n\s*httpGet: \{ path: \/healthz/);
  assert.match(text, /readinessProbe:\s*\n\s*httpGet: \{ path: \/readyz/);
  assert.ok(docs.some((d) => d.kind === 'PersistentVolumeClaim'), 'the outbox on a persistent volume');
});

test('the systemd unit passes systemd-analyze verify', (t) => {
  const which = spawnSync('sh', ['-c', 'command -v systemd-analyze'], { encoding: 'utf8' });
  if (which.status !== 0) {
    t.skip('systemd-analyze is not installed on this machine (Debian package systemd)');
    return;
  }
  // verify checks that ExecStart's binary exists: point it at this machine's node and checkout
  const dir = mkdtempSync(join(tmpdir(), 'fg-unit-'));
  try {
    const unit = readFileSync(join(root, 'deploy/systemd/fieldgate.service'), 'utf8')
      .replaceAll('/usr/bin/node', process.execPath)
      .replaceAll('/opt/fieldgate', root.replace(/\/$/, ''));
    writeFileSync(join(dir, 'fieldgate.service'), unit);
    const out = execFileSync('systemd-analyze', ['verify', join(dir, 'fieldgate.service')], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
    assert.equal(out.trim(), '');
    for (const key of ['NoNewPrivileges=yes', 'ProtectSystem=strict', 'StateDirectory=fieldgate', 'Restart=on-failure', 'DynamicUser=yes', 'MemoryMax=']) {
      assert.ok(unit.includes(key), key);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
