// original: the original team's load test, 500 VUs each a GET of one code then a 1 s pause,
// for 60 s (bench/scenarios.json).
import { scenarioTest } from './scenario.js';

const test = scenarioTest('original');
export const options = test.options;
export const setup = test.setup;
export default test.iteration;
