/**
 * The README's exit-code table, for every entry point (bot, seal, secrets:*, validate). One table so that a CI job
 * or a CronJob can tell "fix the config" from "GitHub is down" from "the drain signal is unknown" by the code alone.
 */
export const EXIT = {
  ok: 0,
  /** A check found problems (validate's violations) or an unexpected failure (a bug). */
  failure: 1,
  config: 2,
  registry: 3,
  forge: 4,
  rateLimit: 5,
  git: 6,
  yaml: 7,
  unknownImage: 8,
  stalePlan: 9,
  drainUnknown: 10,
  /** sysexits.h EX_USAGE: the command line was wrong. */
  usage: 64,
  /** 128 + the signal number, as shells report a process ended by that signal. */
  sigint: 130,
  sigterm: 143,
} as const;

export type ExitCode = (typeof EXIT)[keyof typeof EXIT];
