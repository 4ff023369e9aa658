// The platform's status: one model (model.ts, the documented `--json` shape), built from the repository and optional
// readers (build.ts), rendered for a terminal and as Markdown (render.ts), and the dashboard issue's body (dashboard.ts).
export * from './model.ts';
export { buildStatus, pinOf, type StatusInputs } from './build.ts';
export { cellLines, markdownText, oneLine, renderStatusMarkdown, renderStatusTable, stateText } from './render.ts';
export {
  DASHBOARD_MARKER,
  offeredActions,
  parseDashboardActions,
  renderDashboard,
  renderMermaid,
  type DashboardAction,
  type DashboardOptions,
  type ParsedDashboard,
} from './dashboard.ts';
