import { describe, expect, it } from 'vitest';
import { versionPodSelector, versionPodsFromPods } from './health.ts';

describe("a version's pods Ready", () => {
  const at = '2026-11-30T10:00:00Z';
  const pod = (ready?: 'True' | 'False', extra: { deleting?: boolean; since?: string } = {}) => ({
    ...(extra.deleting ? { metadata: { deletionTimestamp: at } } : {}),
    status: { conditions: ready ? [{ type: 'Ready', status: ready, lastTransitionTime: extra.since ?? at }] : [] },
  });

  it('counts pods whose Ready condition is True; Running but not Ready, or no conditions, is not Ready', () => {
    expect(versionPodsFromPods([pod('True'), pod('False'), pod(), pod('True')])).toEqual({ ready: 2, total: 4, readySince: null });
    expect(versionPodsFromPods([])).toEqual({ ready: 0, total: 0, readySince: null });
    expect(versionPodsFromPods([{ status: { conditions: [{ type: 'ContainersReady', status: 'True', lastTransitionTime: at }] } }])).toEqual({
      ready: 0,
      total: 1,
      readySince: null,
    });
  });

  it('all Ready since the last of them turned Ready; a terminating pod does not count', () => {
    const later = '2026-11-30T10:05:00Z';
    expect(versionPodsFromPods([pod('True'), pod('True', { since: later }), pod('False', { deleting: true })])).toEqual({
      ready: 2,
      total: 2,
      readySince: new Date(later),
    });
  });

  it('selects by the application and the version directory slug, the labels the app template puts on its pods', () => {
    expect(versionPodSelector('orders', '2-0-1')).toBe('dbos.dev/app=orders,dbos.dev/app-version=2-0-1');
  });
});
