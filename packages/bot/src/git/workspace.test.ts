import { execFileSync } from 'node:child_process';
import { afterEach, describe, expect, it } from 'vitest';
import { createBareRemote, type BareRemote } from '@dbos-gitops/testkit';
import { StalePlanError } from '../errors.ts';
import { GitWorkspace } from './workspace.ts';

const remotes: BareRemote[] = [];
const workspaces: GitWorkspace[] = [];
afterEach(async () => {
  for (const workspace of workspaces.splice(0)) await workspace.dispose();
  for (const remote of remotes.splice(0)) await remote.cleanup();
});

async function cloned(files: Record<string, string>): Promise<{ remote: BareRemote; workspace: GitWorkspace }> {
  const remote = await createBareRemote(files);
  remotes.push(remote);
  const workspace = await GitWorkspace.clone(remote.url, 'main', { name: 'bot <x>', email: 'bot@example.invalid' });
  workspaces.push(workspace);
  return { remote, workspace };
}

const gitIn = (dir: string, ...args: string[]) => execFileSync('git', ['-C', dir, ...args], { encoding: 'utf8' });

describe('GitWorkspace.commitEach and pushEach (commits without a checkout, one push for many branches)', () => {
  it('builds one commit per branch on the base branch: edits, deletions, new directories, odd paths, modes kept', async () => {
    const { remote, workspace } = await cloned({ 'a.yaml': 'a: 1\n', 'gone.yaml': 'x\n', 'keep.yaml': 'k\n' });
    // An executable file on the base branch stays executable when a plan rewrites it.
    const seed = await remote.clone();
    execFileSync(
      'sh',
      [
        '-c',
        'printf "#!/bin/sh\\n" > run.sh && chmod +x run.sh && git add run.sh && git -c user.name=t -c user.email=t@e.invalid commit -qm x && git push -q origin main',
      ],
      {
        cwd: seed,
      },
    );
    await workspace.dispose();
    workspaces.pop();
    const fresh = await GitWorkspace.clone(remote.url, 'main', { name: 'bot <x>', email: 'bot@example.invalid' });
    workspaces.push(fresh);
    const odd = 'dir with space/"quoted" \\ näme.yaml';
    const [first, second] = await fresh.commitEach([
      {
        branch: 'bot/one',
        message: 'one\n\nbody',
        edits: [
          { path: 'a.yaml', before: 'a: 1\n', after: 'a: 2\n' },
          { path: 'gone.yaml', before: 'x\n', after: null },
          { path: odd, before: null, after: 'ü: 1\n' },
          { path: 'run.sh', before: '#!/bin/sh\n', after: '#!/bin/sh\nexit 0\n' },
        ],
      },
      { branch: 'bot/two', message: 'two', edits: [{ path: 'new/deep/file.yaml', before: null, after: 'n\n' }] },
    ]);
    const results = await fresh.pushEach([
      { branch: 'bot/one', sha: first!, expected: null },
      { branch: 'bot/two', sha: second!, expected: null },
    ]);
    expect([...results]).toEqual([
      ['bot/one', null],
      ['bot/two', null],
    ]);
    expect(await remote.readFile('bot/one', 'a.yaml')).toBe('a: 2\n');
    expect(await remote.readFile('bot/one', 'gone.yaml')).toBeNull();
    expect(await remote.readFile('bot/one', 'keep.yaml')).toBe('k\n');
    expect(await remote.readFile('bot/one', odd)).toBe('ü: 1\n');
    expect(gitIn(remote.url, 'ls-tree', 'bot/one', 'run.sh').split(' ')[0]).toBe('100755');
    expect(gitIn(remote.url, 'ls-tree', 'bot/one', 'a.yaml').split(' ')[0]).toBe('100644');
    expect(await remote.readFile('bot/two', 'new/deep/file.yaml')).toBe('n\n');
    expect(await remote.readFile('bot/two', 'a.yaml')).toBe('a: 1\n');
    const main = gitIn(remote.url, 'rev-parse', 'main').trim();
    expect(gitIn(remote.url, 'rev-parse', 'bot/one^').trim()).toBe(main);
    expect(gitIn(remote.url, 'log', '-1', '--format=%B|%an|%ae', 'bot/one').trim()).toBe('one\n\nbody\n|bot x|bot@example.invalid');
    // The comparison the runner makes before pushing reads the fetched commit the same way.
    expect(await fresh.branchHasEdits('bot/one', [{ path: 'a.yaml', before: 'a: 1\n', after: 'a: 2\n' }], first)).toBe(true);
    expect(await fresh.branchHasEdits('bot/one', [{ path: 'gone.yaml', before: 'x\n', after: null }], first)).toBe(true);
    expect(await fresh.branchHasEdits('bot/one', [{ path: 'a.yaml', before: 'a: 1\n', after: 'a: 3\n' }], first)).toBe(false);
  });

  it('refuses a plan whose file changed on the base branch, and a commit that changes nothing, before writing anything', async () => {
    const { remote, workspace } = await cloned({ 'a.yaml': 'a: 1\n' });
    await expect(workspace.commitEach([{ branch: 'bot/x', message: 'x', edits: [{ path: 'a.yaml', before: 'a: 0\n', after: 'a: 2\n' }] }])).rejects.toThrow(
      StalePlanError,
    );
    await expect(workspace.commitEach([{ branch: 'bot/x', message: 'x', edits: [{ path: 'a.yaml', before: 'a: 1\n', after: 'a: 1\n' }] }])).rejects.toThrow(
      /nothing to commit/,
    );
    expect([...(await remote.heads()).keys()]).toEqual(['main']);
  });

  it('reports a lease that no longer holds against its branch only; the other branch lands', async () => {
    const { remote, workspace } = await cloned({ 'a.yaml': 'a: 1\n' });
    const [one, two] = await workspace.commitEach([
      { branch: 'bot/one', message: 'one', edits: [{ path: 'a.yaml', before: 'a: 1\n', after: 'a: 2\n' }] },
      { branch: 'bot/two', message: 'two', edits: [{ path: 'a.yaml', before: 'a: 1\n', after: 'a: 3\n' }] },
    ]);
    // Someone creates bot/two after the workspace read the branches: the "must not exist" lease fails for it.
    await remote.commit('bot/two', { 'b.yaml': 'human\n' });
    const results = await workspace.pushEach([
      { branch: 'bot/one', sha: one!, expected: null },
      { branch: 'bot/two', sha: two!, expected: null },
    ]);
    expect(results.get('bot/one')).toBeNull();
    expect(results.get('bot/two')).toMatch(/rejected|stale/);
    expect(await remote.readFile('bot/one', 'a.yaml')).toBe('a: 2\n');
    expect(await remote.readFile('bot/two', 'b.yaml')).toBe('human\n');
    // Putting back: the branch we created is deleted; the one we did not push is not touched (its lease fails).
    expect(
      await workspace.restoreEach([
        { branch: 'bot/one', pushedSha: one!, previous: null },
        { branch: 'bot/two', pushedSha: two!, previous: null },
      ]),
    ).toEqual(['bot/two']);
    const heads = await remote.heads();
    expect(heads.has('bot/one')).toBe(false);
    expect(heads.has('bot/two')).toBe(true);
  });
});
