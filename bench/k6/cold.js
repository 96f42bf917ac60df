// cold: a random code among KURZ_ROWS seeded urls each time, so the caches mostly miss and the
// database answers (bench/scenarios.json). One size per run: seed that many urls first.
import { scenarioTest } from './scenario.js';

const test = scenarioTest('cold');
export const options = test.options;
export const setup = test.setup;
export default test.iteration;
