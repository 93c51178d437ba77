import { FgError, errorMessage } from './errors.ts';

/**
 * Loads the package a configured component needs when that component first needs it, so a
 * configuration without the component never loads it: each of node-opcua, aedes, the NATS client,
 * onnxruntime and modbus-serial costs 12-94 MB of RSS once imported, whether used or not.
 * `who` locates the failure (the stage or config entry), `what` names the package;
 * a failure is FG_E_PLUGIN_LOAD with both.
 */
export async function loadOnUse<T>(who: string, what: string, load: () => Promise<T>): Promise<T> {
  try {
    return await load();
  } catch (e) {
    throw new FgError('FG_E_PLUGIN_LOAD', `${who}: cannot load ${what}: ${errorMessage(e)}`, { cause: e, details: { package: what } });
  }
}
