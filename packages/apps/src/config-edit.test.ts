import { describe, expect, it } from 'vitest';
import { parseConfig } from '@dbos-gitops/bot';
import { addAppEntry, addMigrateImageEntry, removeAppEnvironment, removeImageEntry, removeImageEnvironment } from './config-edit.ts';

const BASE = `version: 1
# environments, in promotion order
environments:
  - name: dev
    overlay: overlays/dev
images:
  - name: dbos-migrate # the shared migration image
    repository: ghcr.io/org/dbos-migrate
  - name: bot
    repository: ghcr.io/org/bot
`;

describe('config edits are text insertions and removals of exactly their own lines', () => {
  it('appends an apps: section when the file has none, and an images: entry after the last *-migrate one', () => {
    const withApp = addAppEntry(BASE, { name: 'payments', repository: 'ghcr.io/org/payments', environments: ['dev'] });
    expect(withApp).toBe(`${BASE}\napps:\n  - name: payments\n    repository: ghcr.io/org/payments\n    environments: [dev]\n`);
    const withImage = addMigrateImageEntry(withApp, { name: 'payments-migrate', repository: 'ghcr.io/org/payments-migrate', environments: ['dev'] });
    expect(withImage).toBe(
      withApp.replace(
        '    repository: ghcr.io/org/dbos-migrate\n',
        '    repository: ghcr.io/org/dbos-migrate\n  - name: payments-migrate\n    id: payments-migrate\n    repository: ghcr.io/org/payments-migrate\n    environments: [dev]\n',
      ),
    );
    // Pinned only where the application runs: another environment extends that list, leaving one shrinks it.
    const twoEnvs = addMigrateImageEntry(withImage, { name: 'payments-migrate', repository: 'ghcr.io/org/payments-migrate', environments: ['staging'] });
    expect(twoEnvs).toBe(withImage.replace('payments-migrate\n    environments: [dev]\n', 'payments-migrate\n    environments: [dev, staging]\n'));
    expect(removeImageEnvironment(twoEnvs, 'payments-migrate', ['staging'])).toBe(
      withImage.replace('payments-migrate\n    environments: [dev]\n', 'payments-migrate\n    environments: [staging]\n'),
    );
    const removed = removeImageEntry(removeAppEnvironment(withImage, 'payments', []), 'payments-migrate');
    expect(removed).toBe(`${BASE}\napps: []\n`);
    // The last entry gone leaves an empty list, not a null the schema refuses.
    expect(parseConfig(removed).apps).toEqual([]);
  });

  it('an application running everywhere gets an environments: list of those left when it leaves one', () => {
    const text = `${BASE}apps:\n  - name: shop\n    # the shop\n    repository: ghcr.io/org/shop\n`;
    expect(removeAppEnvironment(text, 'shop', ['staging', 'prod'])).toBe(
      text.replace('  - name: shop\n', '  - name: shop\n    environments: [staging, prod]\n'),
    );
  });

  it('refuses the same name with another repository, and a flow-style list it cannot edit line by line', () => {
    const text = addAppEntry(BASE, { name: 'shop', repository: 'ghcr.io/org/shop', environments: ['dev'] });
    expect(() => addAppEntry(text, { name: 'shop', repository: 'ghcr.io/other/shop', environments: ['staging'] })).toThrow('with another repository');
    expect(() => addMigrateImageEntry('images: [{ name: a, repository: r }]\n', { name: 'x-migrate', repository: 'r', environments: ['dev'] })).toThrow(
      'flow list',
    );
  });
});
