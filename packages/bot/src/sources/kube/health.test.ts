import { describe, expect, it } from 'vitest';
import { readyPodsFromPods, versionPodSelector } from './health.ts';

describe("a version's pods Ready", () => {
  it('counts pods whose Ready condition is True; Running but not Ready, or no conditions, is not Ready', () => {
    const pod = (ready?: 'True' | 'False') => ({ status: { conditions: ready ? [{ type: 'Ready', status: ready }] : [] } });
    expect(readyPodsFromPods([pod('True'), pod('False'), pod(), pod('True')])).toEqual({ ready: 2, total: 4 });
    expect(readyPodsFromPods([])).toEqual({ ready: 0, total: 0 });
    expect(readyPodsFromPods([{ status: { conditions: [{ type: 'ContainersReady', status: 'True' }] } }])).toEqual({ ready: 0, total: 1 });
  });

  it('selects by the application and the version directory slug, the labels the app template puts on its pods', () => {
    expect(versionPodSelector('orders', '2-0-1')).toBe('dbos.dev/app=orders,dbos.dev/app-version=2-0-1');
  });
});
