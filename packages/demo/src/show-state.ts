import { main } from '@dbos-gitops/bot';
import { DEMO_APP, DEMO_ENV, type Sandbox } from './sandbox.ts';

export interface StateIo {
  sandbox: Sandbox;
  /** The bot's environment (the drain reader's URL is in it, never on a command line). */
  env: NodeJS.ProcessEnv;
  print: (line: string) => void;
}

/**
 * The state between steps, as a platform team sees it: `pnpm bot status --env dev --app orders` on the person's
 * clone (versions on main, their drain counts from the reader, the open bot PRs on the sandbox remote's branches).
 */
export async function showState({ sandbox, env, print }: StateIo): Promise<void> {
  let stdout = '';
  let stderr = '';
  const code = await main(['status', '--env', DEMO_ENV, '--app', DEMO_APP, '--repo', sandbox.checkout, '--forge', 'local'], {
    stdout: (text) => (stdout += text),
    stderr: (text) => (stderr += text),
    env,
  });
  if (code !== 0) {
    print(`   status unknown (pnpm bot status exit ${code}): ${stderr.trim().split('\n')[0] ?? ''}`);
    return;
  }
  for (const line of stdout.trimEnd().split('\n')) print(`   ${line}`);
}
