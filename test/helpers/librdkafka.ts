// librdkafka for tests, through Debian's python3-confluent-kafka on the system python (not pyenv's): the client script
// test/fixtures/txn_client.py, and whether it can run here (.ci/run installs the package).
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

export const PYTHON = '/usr/bin/python3';
export const TXN_CLIENT = fileURLToPath(new URL('../fixtures/txn_client.py', import.meta.url));
const installed = spawnSync(PYTHON, ['-c', 'import confluent_kafka'], { stdio: 'ignore' }).status === 0;
/** The option that skips a test, with the reason, where python3-confluent-kafka is not installed. */
export const needsConfluentKafka = {
  skip: installed ? false : 'python3-confluent-kafka is not installed (.ci/run installs it with apt-get)',
};
export const hasConfluentKafka = installed;
