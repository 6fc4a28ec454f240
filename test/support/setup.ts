import { afterAll } from 'vitest';
import { removeTempDirs } from './tempDir.js';

// every test file: the temp directories it made go when it ends (they held configs, snapshots, stubs)
afterAll(removeTempDirs);
