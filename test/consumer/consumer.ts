// Compiled by test/package.test.ts: a consumer's view of `import ... from 'aiayn'`.
import { Tensor, getBackend, info, type Backend, type Info } from 'aiayn';

const backend: Backend = getBackend('native');
const about: Info = info();
const x: Tensor = backend.softmax(Tensor.from([1, 2, 3], [1, 3]));
const y: number = x.data[0];
export { about, y };
