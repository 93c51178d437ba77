import { access } from 'node:fs/promises';
import { errorMessage } from '../core/errors.ts';
import type { OutboxWriter, StageContext } from '../core/contracts.ts';
import type { ModelConfig } from './config.ts';
import { batchMode, checkSignature, formatSignature, readSignature } from './signature.ts';
import { ModelStage, sha256File } from './stage.ts';

export { modelSchema, type ModelConfig } from './config.ts';
export { ModelStage } from './stage.ts';

/** The pipeline's entry point: one stage per enabled model. */
export function createModelStage(cfg: ModelConfig, outbox: OutboxWriter, ctx: StageContext): ModelStage {
  return new ModelStage(cfg, outbox, ctx);
}

/**
 * For `fieldgate validate`: loads the model and compares it with its configuration.
 * Returns human-readable problems; empty when the model fits.
 */
export async function validateModel(cfg: ModelConfig, resolvePath: (p: string) => string): Promise<string[]> {
  const file = resolvePath(cfg.path);
  const where = `models[${cfg.id}]`;
  try {
    await access(file);
  } catch {
    return [`${where}: model file not found: ${file}`];
  }
  if (cfg.sha256) {
    const sha = await sha256File(file);
    if (sha !== cfg.sha256) return [`${where}: ${file} has sha256 ${sha}; the config pins ${cfg.sha256}`];
  }
  try {
    const sig = await readSignature(file);
    return checkSignature(cfg, sig).map((p) => `${where} (${file}): ${p}`);
  } catch (e) {
    return [`${where}: ${errorMessage(e)}`];
  }
}

/** For `fieldgate model inspect FILE.onnx`: the model's inputs and outputs, printable. */
export async function inspectModel(file: string): Promise<string> {
  const sig = await readSignature(file);
  const sha = await sha256File(file);
  const first = sig.inputs[0];
  const mode = first ? batchMode(sig, first.name) : 'batch';
  return [
    `model: ${file}`,
    `sha256: ${sha}`,
    formatSignature(sig),
    `batching: ${mode === 'single' ? 'fixed batch dimension 1: one run per window' : 'dynamic batch dimension: micro-batched'}`,
  ].join('\n');
}
