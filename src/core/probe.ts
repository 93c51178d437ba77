/** What a health probe answers. */
export type HealthState = 'up' | 'degraded' | 'down';

export interface ProbeResult {
  state: HealthState;
  /** why the stage is not up, in words a plant engineer understands */
  reason?: string;
  /** extra figures for /api/status (rates, breaker state, ...) */
  details?: Record<string, unknown>;
}
