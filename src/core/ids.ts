/**
 * Ids of the gateway, sources, simulators, devices, models and sinks. They become parts of MQTT
 * topics, Sparkplug node and device ids, metric labels and file names, so they are short and
 * plain: a 70,000-character gateway id would validate and then break every publish.
 */
export const ID_PATTERN = /^[A-Za-z0-9_.-]+$/;
export const ID_MAX_LENGTH = 64;
export const ID_RULE = 'letters, digits, _ . - only';

/** Turns any name (a host name) into a valid id. */
export function toId(name: string): string {
  return name.replace(/[^A-Za-z0-9_.-]/g, '-').slice(0, ID_MAX_LENGTH) || 'fieldgate';
}
