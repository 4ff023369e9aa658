import { main } from '@dbos-gitops/bot';
import { botBranches, DEMO_APP, DEMO_ENV, liveVersions, type Sandbox } from './sandbox.ts';

export interface StateIo {
  sandbox: Sandbox;
  /** The bot's environment (the drain reader's URL is in it, never on a command line). */
  env: NodeJS.ProcessEnv;
  print: (line: string) => void;
}

interface DrainRow {
  version: string;
  pending: number | null;
  enqueued: number | null;
  delayed: number | null;
  inFlight: number | null;
  deadLettered: number | null;
}

/**
 * The state between steps: what main lists, the open PRs (bot branches, with the local forge) and the drain signal as
 * `pnpm bot drain-status --env dev --app orders --json` reads it. One function on purpose: it becomes
 * `pnpm bot status` once that command lands.
 */
export async function showState({ sandbox, env, print }: StateIo): Promise<void> {
  const [versions, branches] = await Promise.all([liveVersions(sandbox.remote, 'main'), botBranches(sandbox.remote)]);
  let stdout = '';
  let stderr = '';
  const code = await main(['drain-status', '--env', DEMO_ENV, '--app', DEMO_APP, '--repo', sandbox.checkout, '--json'], {
    stdout: (text) => (stdout += text),
    stderr: (text) => (stderr += text),
    env,
  });
  print(`   state of ${DEMO_APP} in ${DEMO_ENV}: main lists ${versions.join(', ') || '(none)'}; open PRs: ${branches.join(', ') || 'none'}`);
  if (code !== 0) {
    print(`   drain status unknown (pnpm bot drain-status exit ${code}): ${stderr.trim().split('\n')[0] ?? ''}`);
    return;
  }
  const rows = ((JSON.parse(stdout) as Record<string, DrainRow[]>)[DEMO_APP] ?? []).slice().sort((a, b) => a.version.localeCompare(b.version));
  if (rows.length === 0) {
    print('   DBOS: no workflows of any version yet');
    return;
  }
  const shown = (n: number | null) => (n === null ? '?' : String(n));
  print('   DBOS version   in flight (pending / enqueued / delayed)   dead-lettered');
  for (const row of rows) {
    const inFlight = `${shown(row.inFlight)} (${shown(row.pending)} / ${shown(row.enqueued)} / ${shown(row.delayed)})`;
    print(`   ${row.version.padEnd(12)} ${inFlight.padEnd(39)} ${shown(row.deadLettered)}`);
  }
}
