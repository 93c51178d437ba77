import { z } from 'zod';
import { duration } from '../../core/units.ts';
import { sinkBaseShape } from '../common.ts';

export const mqttSinkSchema = z
  .strictObject({
    ...sinkBaseShape,
    type: z.literal('mqtt'),
    url: z.string().regex(/^(mqtts?|wss?|tcp|ssl):\/\//, 'expected mqtt://, mqtts://, ws:// or wss://').describe('broker URL, e.g. mqtts://broker:8883'),
    protocolVersion: z.enum(['3.1.1', '5']).default('3.1.1').describe('MQTT protocol version'),
    clientId: z.string().optional().describe('default fieldgate-<gateway>-<sink id>'),
    username: z.string().optional(),
    password: z.string().optional().describe('use ${env:NAME} or ${file:/path}; never logged'),
    tls: z
      .strictObject({
        ca: z.string().optional().describe('CA certificate file (PEM)'),
        cert: z.string().optional().describe('client certificate file (PEM)'),
        key: z.string().optional().describe('client key file (PEM)'),
        rejectUnauthorized: z.boolean().default(true).describe('verify the broker certificate'),
      })
      .optional()
      .describe('TLS settings for mqtts:// and wss://'),
    qos: z.union([z.literal(0), z.literal(1)]).default(1).describe('1: the cursor moves on PUBACK; 0: when written to the socket (may lose records)'),
    retain: z.boolean().default(false),
    payload: z.enum(['json', 'sparkplug-b']).default('json'),
    messages: z.enum(['batch', 'sample']).default('batch').describe('json: one message per batch of a source, or one per sample'),
    format: z.enum(['records', 'compact']).default('records').describe(
      'json with messages: batch: records = {"gateway","records":[...]} one object per record; ' +
      'compact = samples as one columnar message per poll of a source (parallel tag/value arrays, ids as idBase + seq runs, float32 values as their shortest decimal; see src/sinks/mqtt/README.md)',
    ),
    topic: z.string().optional().describe(
      'json topic template with {gateway} {kind} {source} {tag} ({tag} only with messages: sample); ' +
      'default fieldgate/{gateway}/{kind}/{source} (batch) or fieldgate/{gateway}/{kind}/{source}/{tag} (sample)',
    ),
    sparkplug: z
      .strictObject({
        groupId: z.string().regex(/^[^/+#]+$/, 'no / + or #').default('fieldgate').describe('Sparkplug group id'),
        edgeNodeId: z.string().regex(/^[^/+#]+$/, 'no / + or #').optional().describe('edge node id; default the gateway id'),
        primaryHostId: z.string().regex(/^[^/+#]+$/, 'no / + or #').optional().describe(
          'Sparkplug 3.0 primary host application id: births only while spBv1.0/STATE/<id> says online; offline: NDEATH, disconnect, wait (the outbox keeps everything)',
        ),
        history: z.enum(['inline', 'topic', 'off']).default('inline').describe(
          'records stored while the host or broker was away: inline = DDATA with is_historical, after the births and before live data; ' +
          'topic = on historyTopic (no seq, metric names); off = not published (counted as dropped)',
        ),
        historyTopic: z.string().default('fieldgate/history/{group}/{edgeNode}/{device}').describe('history: topic template with {group} {edgeNode} {device}'),
        timestamps: z.enum(['per-metric', 'per-payload']).default('per-metric').describe(
          'DATA timestamps: per-metric = every metric carries its acquisition time (Sparkplug 3.0 requires it); ' +
          'per-payload = the payload timestamp is the time its metrics share and only a metric that differs carries one ' +
          '(7 bytes a metric less; a deviation for hosts that take the payload timestamp; see src/sinks/mqtt/README.md)',
        ),
      })
      .prefault({})
      .describe('Sparkplug B settings (payload: sparkplug-b)'),
    maxInFlight: z.number().int().positive().default(16).describe('chunks published and not yet acknowledged'),
    keepalive: duration().prefault(30_000),
    connectTimeout: duration().prefault(10_000),
  })
  .superRefine((c, ctx) => {
    if (c.topic?.includes('{tag}') && c.messages === 'batch' && c.payload === 'json') {
      ctx.addIssue({ code: 'custom', path: ['topic'], message: '{tag} needs messages: sample (a batch holds many tags)' });
    }
    if (c.format === 'compact' && c.messages === 'sample') {
      ctx.addIssue({ code: 'custom', path: ['format'], message: 'format: compact needs messages: batch (one message per sample has nothing to share)' });
    }
  })
  .describe('publish to an MQTT broker (JSON or Sparkplug B)');

export type MqttSinkConfig = z.output<typeof mqttSinkSchema>;
