// quest: the hackathon's load quests, mostly redirects, some list reads, some creates, at 50,
// 200 and 500 users one after the other (bench/scenarios.json).
import { scenarioTest } from './scenario.js';

const test = scenarioTest('quest');
export const options = test.options;
export const setup = test.setup;
export default test.iteration;
