import type { DataValue } from 'node-opcua-client';

/**
 * Values that arrived for client handles we cannot name yet: a server may send an item's first
 * notification before the CreateMonitoredItems response that tells us which item got which handle
 * (and a loaded client may read both at once and run the notification first). Dropping them would
 * lose the only value a constant variable ever sends; guessing the tag from the NodeId is wrong when
 * two tags name the same variable. So they wait here until their item's response is processed.
 */
export class EarlyValues {
  private readonly byHandle = new Map<number, DataValue[]>();
  private count = 0;

  /** @param max values kept at most; more are refused (the caller counts them as dropped) */
  constructor(private readonly max: number) {}

  /** false when full */
  keep(handle: number, value: DataValue): boolean {
    if (this.count >= this.max) return false;
    let list = this.byHandle.get(handle);
    if (!list) this.byHandle.set(handle, (list = []));
    list.push(value);
    this.count++;
    return true;
  }

  /**
   * The values kept for these handles, in arrival order per handle; everything else is forgotten:
   * only one CreateMonitoredItems call is in flight at a time, so other handles belong to items
   * already deleted.
   */
  take(handles: readonly number[]): Map<number, DataValue[]> {
    const out = new Map<number, DataValue[]>();
    for (const h of handles) {
      const list = this.byHandle.get(h);
      if (list) out.set(h, list);
    }
    this.byHandle.clear();
    this.count = 0;
    return out;
  }

  get size(): number {
    return this.count;
  }
}
