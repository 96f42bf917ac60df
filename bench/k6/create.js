// create: POST /urls at 50 connections (bench/scenarios.json). Needs the per-client write
// limits lifted: one load generator is one client.
import { scenarioTest } from './scenario.js';

const test = scenarioTest('create');
export const options = test.options;
export default test.iteration;
