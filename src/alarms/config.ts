import { z } from 'zod';
import { duration } from '../core/units.ts';

// Owned by issue #15: the `alarms:` section, rules on raw tags (model thresholds live with the model).

export const alarmRuleSchema = z
  .strictObject({
    id: z.string().regex(/^[A-Za-z0-9_.-]+$/, 'letters, digits, _ . - only').optional()
      .describe('the alarm id in events and the dashboard (default: the tag with / replaced by .)'),
    tag: z.string().regex(/^[^/]+\/.+$/, 'expected "<source id>/<tag>", e.g. press/press1.temperature')
      .describe('"<source id>/<tag>" as samples carry it, e.g. press/press1.temperature'),
    severity: z.enum(['info', 'warning', 'critical']).default('warning'),
    high: z.number().optional().describe('raised while the value is above this'),
    low: z.number().optional().describe('raised while the value is below this'),
    deadband: z.number().nonnegative().default(0)
      .describe('a raised high (low) limit clears only once the value is below high - deadband (above low + deadband)'),
    onDelay: duration().prefault(0).describe('the limit must be crossed this long before the alarm is raised'),
    offDelay: duration().prefault(0).describe('the value must be back this long before the alarm clears'),
    badQualityFor: duration().optional().describe('raised when every sample of the tag has been bad or uncertain for this long'),
    noDataFor: duration().optional().describe('raised when no sample of the tag arrived for this long'),
    message: z.string().optional().describe('text shown with the alarm (default: what crossed what)'),
  })
  .refine((r) => r.high !== undefined || r.low !== undefined || r.badQualityFor !== undefined || r.noDataFor !== undefined, {
    message: 'an alarm needs at least one of high, low, badQualityFor, noDataFor',
  })
  .refine((r) => r.high === undefined || r.low === undefined || r.low < r.high, { message: 'low must be below high', path: ['low'] })
  .describe('an alarm on a raw tag: limits with deadband and delays, bad quality or missing data for too long');

export const alarmsSchema = z.array(alarmRuleSchema).default([])
  .describe('alarms on raw tags; raised and cleared alarms are gateway events sent upstream through the outbox, and shown on the dashboard. Read-only: acknowledging one never writes to a device');

export type AlarmRule = z.output<typeof alarmRuleSchema>;
