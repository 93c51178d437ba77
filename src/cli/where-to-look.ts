import type { Pipeline } from '../pipeline/pipeline.ts';

/**
 * What a person starting fieldgate wants to know first: where the dashboard is, how to watch
 * the MQTT stream, where file sinks write. Derived from the running pipeline, not hard-coded.
 */
export function whereToLook(pipeline: Pipeline): string[] {
  const lines: string[] = [];
  const cfg = pipeline.config;
  const url = pipeline.health?.url;
  if (url) {
    const token = cfg.health.token ? '?token=<your token>' : '';
    lines.push(`dashboard   ${url}/${token}`);
    lines.push(`metrics     curl -s ${url}/metrics | grep fieldgate_records`);
  }
  if (pipeline.broker) {
    lines.push(`mqtt        npx mqtt sub -h 127.0.0.1 -p ${pipeline.broker.port} -t 'fieldgate/#' -v   (embedded broker ${pipeline.broker.url})`);
  }
  for (const s of cfg.sinks) {
    if (!s.enabled) continue;
    if (s.type === 'file') lines.push(`file sink   tail -f ${pipeline.ctx.resolvePath(s.path)}`);
    if (s.type === 'mqtt' && !pipeline.broker) lines.push(`mqtt sink   ${s.url}`);
    if (s.type === 'http') lines.push(`http sink   POST ${s.url}`);
  }
  lines.push(`outbox      ${cfg.outbox.path ? pipeline.ctx.resolvePath(cfg.outbox.path) : `${pipeline.ctx.gateway.dataDir}/outbox.db`}`);
  lines.push('stop        Ctrl-C (drains into the outbox; a second Ctrl-C exits at once)');
  return lines;
}
