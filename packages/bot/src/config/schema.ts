import semver from 'semver';
import { z } from 'zod';

/** Durations in the config are written like `3d`, `12h`, `30m`, `45s` (or a plain number of seconds). */
const DURATION = /^(\d+)\s*(s|m|h|d|w)?$/;
const UNIT_SECONDS: Record<string, number> = { s: 1, m: 60, h: 3600, d: 86_400, w: 604_800 };

export function parseDurationSeconds(value: string | number): number {
  if (typeof value === 'number') return value;
  const match = DURATION.exec(value.trim());
  if (!match) throw new Error(`"${value}" is not a duration; write e.g. 30m, 12h, 3d`);
  return Number(match[1]) * UNIT_SECONDS[match[2] ?? 's']!;
}

const duration = z
  .union([z.string(), z.number().int().nonnegative()])
  .refine((v) => typeof v === 'number' || DURATION.test(v.trim()), { message: 'must be a duration such as 30m, 12h or 3d' })
  .transform((v) => parseDurationSeconds(v));

const regex = z.string().refine(
  (source) => {
    try {
      new RegExp(source);
      return true;
    } catch {
      return false;
    }
  },
  { message: 'must be a valid JavaScript regular expression' },
);

/** A range semver accepts; an invalid one would make `satisfies` false for every tag and silently propose nothing. */
const semverRange = z.string().refine((range) => semver.validRange(range) !== null, {
  message: 'must be a valid semver range such as ">=1.2.0", "^2.45.0" or "*"',
});

/**
 * The suffix an environment's settings are read from (`DBOS_DRAIN_DATABASE_URL_<SUFFIX>`): `prod-eu` and `prod.eu`
 * both give `PROD_EU`, so two such environments would read each other's database; the schema refuses that.
 */
export function envVarSuffix(environment: string): string {
  return environment.toUpperCase().replace(/[^A-Z0-9]/g, '_');
}

const name = z.string().regex(/^[a-z0-9][a-z0-9._-]*$/, 'must be lowercase letters, digits, ".", "_" or "-"');

/** A DBOS workflow or queue name as the bot passes it to the DBOS client: printable, no spaces, bounded. `{app}`
 * stands for the application's name: applications sharing a system database cannot share a queue (DBOS 5.3 gives a
 * queue one owning application), so an environment running several needs e.g. `queue: "{app}-gate"`. */
const dbosName = z
  .string()
  .max(100)
  .regex(/^(?:[A-Za-z_]|\{app\})(?:[A-Za-z0-9_.:-]|\{app\})*$/, 'must be a workflow or queue name: letters, digits, "_", ".", ":", "-" or {app}, at most 100');

export const environmentSchema = z.strictObject({
  name,
  /** Path of the overlay directory, relative to the repository root. */
  overlay: z
    .string()
    .min(1)
    .refine((path) => !path.startsWith('/') && !path.split('/').includes('..') && !path.includes('\\'), {
      message: 'must be a path inside the repository, relative to its root, e.g. overlays/dev',
    }),
  /** Cluster check before promotion INTO this environment: the digest must have run healthy in the previous
   * environment for this long. Only used when `kube` access is configured for the previous environment. */
  promotionSoak: duration.default(0),
  /** Read-only kube access for health checks of this environment (kubeconfig context and namespace). */
  kube: z.strictObject({ context: z.string().optional(), namespace: z.string().default('dbos') }).optional(),
  /**
   * What a version's DBOS evidence in this environment must show (`pnpm bot evidence`): pass = the soak elapsed, at
   * least minSucceeded SUCCESS workflows and (ERROR + MAX_RECOVERY_ATTEMPTS_EXCEEDED) / finished <= maxErrorRatio.
   * soak: how long the version must run here first, and the evidence window; default the next environment's
   * promotionSoak (what promotion out of this one waits), for the last environment its own; 0 = since it registered.
   */
  gate: z
    .strictObject({
      minSucceeded: z.number().int().min(1, 'must be at least 1').default(10),
      maxErrorRatio: z.number().gt(0, 'must be above 0').lt(1, 'must be below 1').default(0.05),
      soak: duration.optional(),
    })
    .default({ minSucceeded: 10, maxErrorRatio: 0.05 }),
  /** `propose`: when the gate's verdict for an application's latest version here is `fail`, the rollback task proposes
   * the rollback PR by itself (evidence in the body). `off` (default): rollbacks only on request (`pnpm bot rollback`). */
  rollback: z.enum(['off', 'propose']).default('off'),
  /** `direct` (default): version-add's one PR adds a version and moves the Service and app-latest to it. `gated`:
   * version-add only adds the version (Deployment, ScaledObject); version-switch moves the Service and app-latest in a
   * second PR once the version's pods are Ready and, with `gateWorkflow`, a gate workflow succeeded on it. */
  switch: z.enum(['direct', 'gated']).default('direct'),
  /** `switch: gated` only, and only for applications routed through the Gateway API component: the percent steps of
   * NEW requests (strictly increasing, 1..99) version-switch sends to the new version through HTTPRoute weights, one
   * small PR each, each once the version's evidence passes the gate; 100 is the final switch (README "Ramping traffic"). */
  ramp: z
    .array(z.number().int('must be whole percents').min(1, 'steps must be at least 1').max(99, 'steps must be at most 99 (100 is the final switch)'))
    .min(1, 'must list at least one step, e.g. [10, 50]')
    .refine((steps) => steps.every((step, index) => index === 0 || step > steps[index - 1]!), { message: 'steps must be strictly increasing' })
    .optional(),
  /** The DBOS workflow version-switch enqueues on exactly the new version before switching (`switch: gated` only). */
  gateWorkflow: z
    .strictObject({
      /** The registered workflow name (DBOS `workflowName`). */
      name: dbosName,
      /** A queue the new version's executors listen on. */
      queue: dbosName,
      /** How long a run waits for the workflow to finish; longer, and the run says unknown and switches nothing. */
      timeout: duration.default(600).refine((seconds) => seconds > 0, { message: 'must be above 0' }),
      /** NAME of the variable holding a write-capable system database URL (enqueueing writes); default
       * DBOS_GATE_DATABASE_URL_<ENV>. Never the drain reader's read-only URL. */
      databaseUrlEnv: z
        .string()
        .regex(/^[A-Z_][A-Z0-9_]*$/, 'must be an environment variable name')
        .optional(),
    })
    .optional(),
});

export const versioningSchema = z.strictObject({
  /** Semver range the proposed version must satisfy (`*` for any). */
  range: semverRange.default('*'),
  prereleases: z.boolean().default(false),
  /** Only tags matching this regex are considered. */
  allowTags: regex.optional(),
  /** Tags matching any of these are ignored. */
  ignoreTags: z.array(regex).default([]),
});

export const imageSchema = z
  .strictObject({
    /** The kustomize `images[].name` this policy applies to, e.g. `dbosdev/conductor`. */
    name: z.string().min(1),
    /** Short id used in groups and branch names; defaults to the last path segment of `name` (`conductor`). */
    id: name.optional(),
    /** Registry repository to read tags from, e.g. `ghcr.io/dexidp/dex` or `docker.io/dbosdev/conductor`. */
    repository: z.string().min(1),
    versioning: versioningSchema.default({ range: '*', prereleases: false, ignoreTags: [] }),
    /** A version is proposed only when its image config `created` time is at least this old. */
    minReleaseAge: duration.optional(),
    /** `false` keeps the entry pinned: the bot reads it but never proposes a change. */
    update: z.boolean().default(true),
    /**
     * Environments whose pins hold this image (default: every environment), e.g. an application's migration image
     * where that application runs. The first of them takes new versions from the registry; the rest by promotion.
     */
    environments: z.array(name).min(1).optional(),
  })
  .transform((image) => ({ ...image, id: image.id ?? image.name.split('/').pop()!.toLowerCase() }));

export const groupSchema = z.strictObject({
  name,
  /** Images that always move together, in one PR per environment. */
  images: z.array(name).min(2),
});

export const forgeSchema = z.strictObject({
  type: z.enum(['github', 'local']).default('github'),
  owner: z.string().optional(),
  repo: z.string().optional(),
  baseBranch: z.string().default('main'),
  labels: z.array(z.string()).default(['gitops-bot']),
  /**
   * GitHub login whose PRs are the bot's own (`<app-slug>[bot]` for a GitHub App token). Default: the token's user
   * (GET /user), or github-actions[bot] for an installation token in GitHub Actions.
   */
  botLogin: z
    .string()
    .regex(/^[A-Za-z0-9](?:[A-Za-z0-9-]{0,38})(?:\[bot\])?$/, 'must be a GitHub login such as "my-bot" or "my-app[bot]"')
    .optional(),
  /** Git identity of the bot's commits. */
  author: z.strictObject({ name: z.string(), email: z.string() }).default({ name: 'dbos-gitops-bot', email: 'dbos-gitops-bot@users.noreply.github.com' }),
});

export const pullRequestLimitsSchema = z.strictObject({
  maxOpen: z.number().int().positive().default(10),
  maxPerHour: z.number().int().positive().default(5),
});

export const registryHostSchema = z.strictObject({
  /** Talk plain HTTP to this host (only for loopback test registries). */
  plainHttp: z.boolean().default(false),
});

/**
 * One DBOS application (`apps:`): its directory `overlays/<env>/apps/<name>/` in every environment it runs in, the
 * image its versions pin, and the rules of its version lifecycle. Every version task runs per environment x application.
 */
export const appSchema = z.strictObject({
  /** The directory name under overlays/<env>/apps/ and the DBOS application name its workflows carry (application_name). */
  name: z.string().regex(/^[a-z0-9]([a-z0-9-]{0,38}[a-z0-9])?$/, 'must be a DNS label: lowercase letters, digits and "-", at most 40 characters'),
  /** The kustomize image name every version directory pins (the template's image, `app`). */
  imageName: z.string().min(1).default('app'),
  /** Registry repository its versions are released to, e.g. `ghcr.io/example-org/dbos-app`. */
  repository: z.string().min(1),
  versioning: versioningSchema.default({ range: '*', prereleases: false, ignoreTags: [] }),
  minReleaseAge: duration.optional(),
  /** Maximum live versions per environment before the bot stops adding. */
  maxLive: z.number().int().positive().default(3),
  /** The application name Conductor knows (its API keys' appNames). Default: name. */
  conductorAppName: z.string().min(1).optional(),
  /** Environments this application runs in (each must have overlays/<env>/apps/<name>/). Default: every environment. */
  environments: z.array(name).min(1).optional(),
  drain: z
    .strictObject({
      /** The version must have read zero in-flight workflows for this long before retirement is proposed. */
      quietPeriod: duration.default(3600),
      /** Where in-flight counts come from. */
      source: z.enum(['database', 'conductor']).default('database'),
      /** Environment variable names (never values) holding the connection settings. */
      databaseUrlEnv: z.string().default('DBOS_DRAIN_DATABASE_URL'),
      conductorUrl: z.string().optional(),
      conductorApiKeyEnv: z.string().default('CONDUCTOR_API_KEY'),
      /**
       * Retire a version even though it has dead-lettered (MAX_RECOVERY_ATTEMPTS_EXCEEDED) workflows, which only an
       * executor of that version can resume. Off: such a version is kept and its workflows are listed with the
       * commands to resume them or fork them onto the latest version.
       */
      retireDeadLettered: z.boolean().default(false),
    })
    .default({
      quietPeriod: 3600,
      source: 'database',
      databaseUrlEnv: 'DBOS_DRAIN_DATABASE_URL',
      conductorApiKeyEnv: 'CONDUCTOR_API_KEY',
      retireDeadLettered: false,
    }),
});

/** How the bot reaches each environment's Conductor to create and revoke the application's API keys. */
export const conductorRotationSchema = z.strictObject({
  /** Conductor organization (`/v2/orgs/{org}`). */
  org: z.string().min(1),
  /** Conductor base URL, e.g. http://conductor.dbos.svc.cluster.local:8090 from inside the cluster. */
  url: z.string().url(),
  /** NAME of the environment variable holding the admin API key (needs token.read and token.write); never the key. */
  adminKeyEnv: z
    .string()
    .regex(/^[A-Z_][A-Z0-9_]*$/, 'must be an environment variable name')
    .default('CONDUCTOR_ADMIN_API_KEY'),
  /**
   * Gone: Conductor keys are scoped per application, so each app's key serves that app alone (`apps[].conductorAppName`,
   * default its name). Kept only to refuse it with that explanation instead of a bare "unrecognized key".
   */
  appNames: z
    .unknown()
    .optional()
    .superRefine((value, ctx) => {
      if (value !== undefined)
        ctx.addIssue({
          code: 'custom',
          message:
            "is no longer read: Conductor API keys are now scoped per application, and each app's key serves only that app (apps[].conductorAppName, default its name); remove appNames:",
        });
    }),
  /** Permissions of the new key; an executor needs websocket.connect. */
  permissions: z.array(z.string()).default(['websocket.connect']),
  /** New keys are named `<tokenPrefix>-<env>-<app>-<YYYYMMDDHHmm>`. */
  tokenPrefix: name.default('gitops'),
  /** Per-environment overrides of url and adminKeyEnv (each environment usually has its own Conductor). */
  environments: z
    .record(
      z.string(),
      z.strictObject({
        url: z.string().url().optional(),
        adminKeyEnv: z
          .string()
          .regex(/^[A-Z_][A-Z0-9_]*$/)
          .optional(),
      }),
    )
    .default({}),
});

/** The secret-rotation task: the Conductor API key it rotates itself, and the secrets it only reports as due. */
export const secretRotationSchema = z.strictObject({
  /** Rotate an application's Conductor API key when its `dbos.dev/rotated-at` is older than this. */
  maxAge: duration.default(90 * 86_400),
  /** Without cluster access, revoke the previous key this long after the rotation was proposed. */
  revokeGrace: duration.default(86_400),
  /** Absent: due keys are only reported (with the command to rotate by hand). */
  conductor: conductorRotationSchema.optional(),
  secrets: z
    .array(
      z.strictObject({
        name,
        /** Sealed file relative to each overlay, e.g. `platform/secrets/conductor-license.sealed.yaml` or `apps/orders/secrets/orders-db.sealed.yaml`. */
        file: z.string(),
        maxAge: duration,
      }),
    )
    .default([]),
});

export const schedulesSchema = z.record(z.string(), z.string().regex(/^(\S+\s+){4}\S+$/, 'must be a five-field cron expression'));

export const configSchema = z
  .strictObject({
    version: z.literal(1),
    environments: z.array(environmentSchema).min(1),
    images: z.array(imageSchema).default([]),
    groups: z.array(groupSchema).default([]),
    /** Default minimum release age for images that do not set their own. */
    minReleaseAge: duration.default(0),
    schedules: schedulesSchema.default({}),
    pullRequests: pullRequestLimitsSchema.default({ maxOpen: 10, maxPerHour: 5 }),
    forge: forgeSchema.default({
      type: 'github',
      baseBranch: 'main',
      labels: ['gitops-bot'],
      author: { name: 'dbos-gitops-bot', email: 'dbos-gitops-bot@users.noreply.github.com' },
    }),
    registries: z.record(z.string(), registryHostSchema).default({}),
    /** The registry cache (`--cache-dir`): how long a tag list is used before it is asked again (Renovate: 30 minutes). */
    registryCache: z.strictObject({ tagsTtl: duration.default(1800) }).default({ tagsTtl: 1800 }),
    /** The DBOS applications, one entry each; the version tasks do nothing without it. */
    apps: z.array(appSchema).default([]),
    /** Replaced by apps: (kept only to say so). */
    appVersions: z.unknown().optional(),
    secretRotation: secretRotationSchema.optional(),
    /** The dashboard issue (README "Which pull requests are the bot's own"). Default: on with the GitHub forge. */
    dashboard: z.boolean().optional(),
  })
  .superRefine((config, ctx) => {
    const envNames = new Set<string>();
    const suffixes = new Map<string, string>();
    config.environments.forEach((env, index) => {
      if (envNames.has(env.name)) ctx.addIssue({ code: 'custom', path: ['environments', index, 'name'], message: `duplicate environment "${env.name}"` });
      else if (suffixes.has(envVarSuffix(env.name))) {
        ctx.addIssue({
          code: 'custom',
          path: ['environments', index, 'name'],
          message: `"${env.name}" and "${suffixes.get(envVarSuffix(env.name))}" both read their settings from *_${envVarSuffix(env.name)} variables (e.g. DBOS_DRAIN_DATABASE_URL_${envVarSuffix(env.name)}); rename one`,
        });
      }
      envNames.add(env.name);
      suffixes.set(envVarSuffix(env.name), env.name);
      if (env.ramp && env.switch !== 'gated')
        ctx.addIssue({
          code: 'custom',
          path: ['environments', index, 'ramp'],
          message: 'is only used with switch: gated (the ramp leads up to the switch PR); set switch: gated or remove ramp:',
        });
      if (env.gateWorkflow && env.switch !== 'gated')
        ctx.addIssue({
          code: 'custom',
          path: ['environments', index, 'gateWorkflow'],
          message: 'is only used with switch: gated (the gate runs before the second PR moves the Service); set switch: gated or remove gateWorkflow:',
        });
    });
    for (const key of Object.keys(config.secretRotation?.conductor?.environments ?? {})) {
      if (!envNames.has(key))
        ctx.addIssue({
          code: 'custom',
          path: ['secretRotation', 'conductor', 'environments', key],
          message: `"${key}" is not the name of an entry of environments:`,
        });
    }
    if (config.appVersions !== undefined)
      ctx.addIssue({
        code: 'custom',
        path: ['appVersions'],
        message: 'appVersions: was replaced by apps:, a list with one entry per application; move its fields into "apps: [{ name: <appName>, ... }]"',
      });
    const appNames = new Set<string>();
    config.apps.forEach((app, index) => {
      if (appNames.has(app.name)) ctx.addIssue({ code: 'custom', path: ['apps', index, 'name'], message: `duplicate application "${app.name}"` });
      appNames.add(app.name);
      app.environments?.forEach((env, envIndex) => {
        if (!envNames.has(env))
          ctx.addIssue({ code: 'custom', path: ['apps', index, 'environments', envIndex], message: `"${env}" is not the name of an entry of environments:` });
      });
    });
    const imageNames = new Set<string>();
    const kustomizeNames = new Set<string>();
    config.images.forEach((image, index) => {
      if (!/^[a-z0-9][a-z0-9._-]*$/.test(image.id))
        ctx.addIssue({
          code: 'custom',
          path: ['images', index, 'id'],
          message: `"${image.id}" is not branch-safe; set id: to lowercase letters, digits, ".", "_" or "-"`,
        });
      if (imageNames.has(image.id))
        ctx.addIssue({ code: 'custom', path: ['images', index, 'id'], message: `duplicate image id "${image.id}"; set a distinct id:` });
      if (kustomizeNames.has(image.name)) ctx.addIssue({ code: 'custom', path: ['images', index, 'name'], message: `duplicate image "${image.name}"` });
      image.environments?.forEach((env, envIndex) => {
        if (!envNames.has(env))
          ctx.addIssue({ code: 'custom', path: ['images', index, 'environments', envIndex], message: `"${env}" is not the name of an entry of environments:` });
      });
      imageNames.add(image.id);
      kustomizeNames.add(image.name);
    });
    const grouped = new Map<string, string>();
    config.groups.forEach((group, groupIndex) => {
      if (imageNames.has(group.name))
        ctx.addIssue({ code: 'custom', path: ['groups', groupIndex, 'name'], message: `group name "${group.name}" collides with an image name` });
      group.images.forEach((image, imageIndex) => {
        if (!imageNames.has(image))
          ctx.addIssue({ code: 'custom', path: ['groups', groupIndex, 'images', imageIndex], message: `"${image}" is not the id of an entry of images:` });
        const other = grouped.get(image);
        if (other) ctx.addIssue({ code: 'custom', path: ['groups', groupIndex, 'images', imageIndex], message: `"${image}" is already in group "${other}"` });
        grouped.set(image, group.name);
      });
    });
  });

export type BotConfigInput = z.input<typeof configSchema>;
export type BotConfig = z.output<typeof configSchema>;
export type EnvironmentConfig = BotConfig['environments'][number];
export type ImageConfig = BotConfig['images'][number];
export type VersioningPolicy = z.output<typeof versioningSchema>;
export type AppConfig = BotConfig['apps'][number];
/** @deprecated name kept while the version tasks move to AppConfig. */
export type AppVersionsConfig = AppConfig;
export type SecretRotationConfig = z.output<typeof secretRotationSchema>;
