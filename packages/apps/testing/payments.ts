/** The `pnpm apps:add` command line the tests scaffold their example application with: `payments` 3.0.0 in dev at
 * /payments, pinned by `digest`. */
export function addPaymentsArgs(digest: string): string[] {
  return [
    'add',
    '--name',
    'payments',
    '--env',
    'dev',
    '--repository',
    'ghcr.io/example-org/payments',
    '--version',
    '3.0.0',
    '--digest',
    digest,
    '--route',
    '/payments',
  ];
}
