import { z } from 'zod';

// Owned by the health issue (#7): the `health:` section.
export const healthSchema = z
  .strictObject({
    enabled: z.boolean().default(true),
    host: z.string().default('127.0.0.1').describe('address the HTTP server binds; 127.0.0.1 unless you need it reachable'),
    port: z.number().int().min(0).max(65535).default(8080).describe('0 picks a free port'),
  })
  .describe('health probes, /healthz /readyz /metrics /api/status and the dashboard');
export type HealthConfig = z.output<typeof healthSchema>;
