/** The optimizer's public API. */
export { applyBlocklist, enumerateCandidates } from './candidates.js';
export { describeRequest, describeResources } from './describe.js';
export { edgeGb, inputStorage, inputsFromUpstream } from './egress.js';
export { dagSolverLoaded, loadDagSolver } from './ilp.js';
export { needsDagSolver, optimize, optimizeAsync } from './optimize.js';
export { type PlanJson, planToJson, renderPlan } from './render.js';
export { acceleratorSpeed, scaledHours, throughput } from './speed.js';
export type { OptimizeOptions, Plan, PlannedTask, Target } from './types.js';
