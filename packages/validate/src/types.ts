/** A Kubernetes object as kustomize prints it; only the fields the policies read are typed. */
export interface K8sObject {
  apiVersion?: string;
  kind?: string;
  metadata?: {
    name?: string;
    namespace?: string;
    labels?: Record<string, string>;
    annotations?: Record<string, string>;
    [key: string]: unknown;
  };
  [key: string]: unknown;
}

export interface RenderedObject {
  object: K8sObject;
  /** Repo-relative source file (from kustomize's origin annotation), or the entry point's kustomization.yaml. */
  file: string;
  /** How the object got into its render; absent for objects a test builds by hand. */
  source?: ObjectSource;
}

/**
 * What is needed to name the overlay file behind a violation: the render's environment and entry point, and the
 * kustomizations whose transformers ran on the object (kustomize's `transformerAnnotations`), innermost first.
 */
export interface ObjectSource {
  root: string;
  env: string;
  /** Repo-relative entry point directory, e.g. `overlays/dev`. */
  renderId: string;
  /** Repo-relative kustomization files, innermost first, each once. */
  kustomizations: string[];
}

/** One place a violation shows up: the environment and the overlay-side file that brought the offending value in. */
export interface ViolationSite {
  env: string;
  file: string;
}

/** Where a render comes from decides which policies apply to it (overlay-only rules need a whole environment). */
export type RenderKind = 'overlay' | 'argocd' | 'flux' | 'flux-stage' | 'platform' | 'app' | 'flux-app';

export interface Render {
  /** Repo-relative directory, e.g. `overlays/dev`; for a `flux-app` render, `<spec.path> › Kustomization/<name>`. */
  id: string;
  /** The repo-relative directory built when `id` is not one (a Flux Kustomization's spec.path). */
  path?: string;
  /** The Flux Kustomization a `flux-app` render stands for. */
  kustomization?: string;
  kind: RenderKind;
  env: string;
  objects: RenderedObject[];
  /** Kustomize's message when the render failed; objects is then empty. */
  error?: string;
  /** False when the origin-annotation wrapper could not be used and files fall back to the entry point. */
  originAnnotations: boolean;
  wallMs: number;
}

export interface Violation {
  rule: string;
  /** Repo-relative file the fix belongs in. */
  file: string;
  /** `Kind/namespace/name` (or `Kind/name` for cluster-scoped objects, `line N` for the secret scan). */
  object: string;
  message: string;
  fix: string;
  /** Where it shows up: per environment, the overlay file that introduced it (a violation is reported once for all). */
  where?: ViolationSite[];
}

export interface PolicyContext {
  root: string;
  /** Renders that succeeded; failed ones are already reported as `render` violations. */
  renders: Render[];
}

export interface Policy {
  id: string;
  title: string;
  check(ctx: PolicyContext): Violation[] | Promise<Violation[]>;
}
