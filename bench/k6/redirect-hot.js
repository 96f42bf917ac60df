// redirect-hot: cached redirects of the seeded codes at 500 connections (bench/scenarios.json).
import { scenarioTest } from './scenario.js';

const test = scenarioTest('redirect-hot');
export const options = test.options;
export const setup = test.setup;
export default test.iteration;
