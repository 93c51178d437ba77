import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { Registry } from 'prom-client';
import { silentLogger } from '../log.ts';
import type { SinkLoad } from '../core/contracts.ts';
import { MIN_SHARE, OverloadGovernor, ShedController, STALLED_MS, TICK_MS } from './overload.ts';

/** A sink fed `ingest` records/s that delivers `deliver` records/s, with the lag the test sets. */
class FakeSink {
  acked = 0;
  end = 0;
  lagMs = 0;
  lastAckAt = 0;
  constructor(readonly sink: string, readonly shedAt = 500) {}
  advance(now: number, ingest: number, deliver: number): void {
    this.end += (ingest * TICK_MS) / 1000;
    this.acked = Math.min(this.end, this.acked + (deliver * TICK_MS) / 1000);
    if (deliver > 0) this.lastAckAt = now;
  }
  report(): SinkLoad {
    return { sink: this.sink, shedAt: this.shedAt, lagMs: this.lagMs, acked: this.acked, backlog: this.end - this.acked, lastAckAt: this.lastAckAt };
  }
}

/** Runs ticks; ingestion follows the share (raw * share), as shed polls do. */
function run(c: ShedController, s: FakeSink, o: { from: number; ticks: number; raw: number; deliver: number; lag: (t: number) => number }): number {
  let now = o.from;
  for (let i = 0; i < o.ticks; i++) {
    now += TICK_MS;
    s.advance(now, o.raw * c.share, o.deliver);
    s.lagMs = o.lag(now);
    c.step(now, [s.report()]);
  }
  return now;
}

describe('overload: the shed controller', () => {
  test('keeps every poll while sinks keep up', () => {
    const c = new ShedController();
    const s = new FakeSink('a');
    run(c, s, { from: 0, ticks: 20, raw: 1000, deliver: 1000, lag: () => 50 });
    assert.equal(c.share, 1);
  });

  test('2x overload: cuts ingestion below what the sink delivers, once per second at most', () => {
    const c = new ShedController();
    const s = new FakeSink('a');
    let now = run(c, s, { from: 0, ticks: 4, raw: 1000, deliver: 500, lag: () => 100 });
    assert.equal(c.share, 1, 'under its shedAt: nothing shed');
    now = run(c, s, { from: now, ticks: 1, raw: 1000, deliver: 500, lag: () => 600 });
    assert.ok(c.share > 0.35 && c.share < 0.45, `cut to 0.8 of what it delivers (${c.share})`);
    const first = c.share;
    now = run(c, s, { from: now, ticks: 3, raw: 1000, deliver: 500, lag: () => 700 });
    assert.equal(c.share, first, 'no second cut before the rates measure the first');
    // still over (hysteresis: above half of shedAt) while it drains: held, not raised
    now = run(c, s, { from: now, ticks: 8, raw: 1000, deliver: 500, lag: () => 300 });
    assert.equal(c.share, first);
    // caught up: the share grows back to 1
    run(c, s, { from: now, ticks: 40, raw: 1000, deliver: 500, lag: () => 100 });
    assert.ok(c.share > 0.4, `recovers while under half of shedAt (${c.share})`);
  });

  test('a backlog after an outage that drains faster than ingestion sheds nothing', () => {
    const c = new ShedController();
    const s = new FakeSink('a');
    run(c, s, { from: 0, ticks: 20, raw: 1000, deliver: 20_000, lag: () => 60_000 });
    assert.equal(c.share, 1);
  });

  test('a connected sink that confirms nothing (stalled) sheds nothing: the outbox keeps its records', () => {
    const c = new ShedController();
    const s = new FakeSink('a');
    let now = run(c, s, { from: 0, ticks: 2, raw: 1000, deliver: 1000, lag: () => 50 });
    now = run(c, s, { from: now, ticks: Math.ceil(STALLED_MS / TICK_MS) + 2, raw: 1000, deliver: 0, lag: (t) => t - 500 });
    // the first ticks of the stall (before STALLED_MS) may cut; past it the sink no longer counts
    const atStall = c.share;
    run(c, s, { from: now, ticks: 40, raw: 1000, deliver: 0, lag: (t) => t });
    assert.ok(c.share >= atStall, 'a stalled sink makes no further cut');
    assert.equal(c.share, 1, 'and the share recovers to 1');
  });

  test('never below MIN_SHARE; shedAt 0 never sheds', () => {
    const c = new ShedController();
    const s = new FakeSink('a');
    run(c, s, { from: 0, ticks: 200, raw: 1000, deliver: 1, lag: () => 5_000 });
    assert.equal(c.share, MIN_SHARE);
    const off = new ShedController();
    run(off, new FakeSink('b', 0), { from: 0, ticks: 40, raw: 1000, deliver: 1, lag: () => 5_000 });
    assert.equal(off.share, 1);
  });

  test('a queue in front of a full channel (the router): in = out, a lag that stays up is cut by a fixed step; a sink with the same figures holds', () => {
    const queue = new ShedController();
    const sink = new ShedController();
    let now = 0;
    const q = { sink: 'router', shedAt: 500, lagMs: 3_000, acked: 0, backlog: 3_000, lastAckAt: 0, queue: true };
    for (let i = 0; i < 5; i++) {
      now += TICK_MS;
      q.acked += 250; // in = out: the backlog stays the same
      q.lastAckAt = now;
      queue.step(now, [q]);
      sink.step(now, [{ ...q, queue: false }]);
    }
    assert.ok(Math.abs(queue.share - 0.7) < 1e-9, `cut by 0.7 (${queue.share})`);
    assert.equal(sink.share, 1, 'a sink delivering what comes in is draining, not overloaded');
    // the lag falls fast once fewer polls come in: no further cut
    for (let i = 0; i < 8; i++) {
      now += TICK_MS;
      q.acked += 250;
      q.lagMs -= 300;
      queue.step(now, [q]);
    }
    assert.ok(Math.abs(queue.share - 0.7) < 1e-9, `held while the lag falls (${queue.share})`);
  });

  test('the slowest of two overloaded sinks sets the cut', () => {
    const c = new ShedController();
    const a = new FakeSink('a');
    const b = new FakeSink('b');
    let now = 0;
    for (let i = 0; i < 5; i++) {
      now += TICK_MS;
      a.advance(now, 1000 * c.share, 800);
      b.advance(now, 1000 * c.share, 250);
      a.lagMs = b.lagMs = 1_000;
      c.step(now, [a.report(), b.report()]);
    }
    assert.ok(c.share > 0.15 && c.share < 0.25, `0.8 x 250/1000 (${c.share})`);
  });
});

describe('overload: the governor', () => {
  test('poll gates keep the share of ticks, evenly spread; the timer ends with the last sink', () => {
    const g = new OverloadGovernor({ registry: new Registry(), log: silentLogger() });
    const s = new FakeSink('a');
    const unregister = g.register({ overloadReport: () => s.report() });
    let now = 0;
    for (let i = 0; i < 6; i++) {
      now += TICK_MS;
      s.advance(now, 1000 * g.share, 500);
      s.lagMs = 1_000;
      g.tick(now);
    }
    const share = g.share;
    assert.ok(share < 0.5);
    const gate = g.gate();
    const polls = Array.from({ length: 1000 }, () => gate());
    const kept = polls.filter(Boolean).length;
    assert.ok(Math.abs(kept - 1000 * share) <= 1, `${kept} of 1000 ticks polled at share ${share}`);
    // evenly: never two skipped ticks more than 1/share + 1 apart
    let gap = 0;
    let maxGap = 0;
    for (const p of polls) {
      gap = p ? 0 : gap + 1;
      maxGap = Math.max(maxGap, gap);
    }
    assert.ok(maxGap <= Math.ceil(1 / share), `longest run of skipped ticks ${maxGap}`);
    unregister();
    assert.equal(g.share, 1, 'no sink left: nothing is shed');
    assert.ok(gate(), 'and every tick polls');
  });
});
