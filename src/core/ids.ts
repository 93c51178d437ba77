/**
 * Ids of the gateway, sources, simulators, devices, models and sinks. They become parts of MQTT
 * topics, Sparkplug node and device ids, metric labels and file names, so they are short and
 * plain: a 70,000-character gateway id would validate and then break every publish.
 */
const ID_CHARS = 'A-Za-z0-9_.-';
export const ID_PATTERN = new RegExp(`^[${ID_CHARS}]+$`);
/** "<source id>/<tag>", how a model names its input */
export const SOURCE_TAG_PATTERN = new RegExp(`^[${ID_CHARS}]+/.+$`);
export const ID_MAX_LENGTH = 64;
export const ID_RULE = 'letters, digits, _ . - only';

/** Turns any name (a host name) into a valid id. */
export function toId(name: string): string {
  return name.replace(new RegExp(`[^${ID_CHARS}]`, 'g'), '-').slice(0, ID_MAX_LENGTH) || 'fieldgate';
}
