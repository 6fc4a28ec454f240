import { Flags } from '@oclif/core';
import { SteepCommand } from '../cli/baseCommand.js';
import { globalFlags, jsonFlag } from '../cli/flags.js';
import { renderGrantsText } from '../render/grants.js';
import { grantsOf } from '../workflows/grants.js';

export default class Grants extends SteepCommand {
  static override summary =
    "Print each node's least-privileged role setup: the GRANTs that let steep run without a superuser.";
  static override description =
    `For managed PostgreSQL (RDS, Aurora, Cloud SQL, Azure, …), where nobody is superuser: per node of steep.yaml, the SQL the cloud's admin role (rds_superuser, cloudsqlsuperuser, azure_pg_admin) runs once, as it is (psql -v ON_ERROR_STOP=1), so that the role steep connects as can do what the file needs there: CREATE on the database, the replication user, membership in the owner role of each table it publishes or applies to (the application keeps its tables), subscriptions and their inits, a merge's replication origins. What only a superuser may grant, and what only a switchover needs, are comments saying so.
Without --pg-version steep reads each node and prints only what its role lacks; with it nothing connects and the script holds all the role may lack.`;
  static override examples = [
    '<%= config.bin %> grants > grants.sql',
    '<%= config.bin %> grants --pg-version 16',
    '<%= config.bin %> grants --json',
  ];
  static override flags = {
    ...globalFlags,
    ...jsonFlag,
    'pg-version': Flags.integer({
      summary: 'The server version to write the script for (14–18); nothing connects.',
      min: 14,
      max: 18,
    }),
  };

  async run(): Promise<void> {
    const { flags } = await this.parse(Grants);
    const { nodes } = this.warned(await grantsOf(flags.config, { pgVersion: flags['pg-version'] }));
    if (flags.json) this.outJson({ nodes }, 2);
    else this.out(renderGrantsText(nodes));
  }
}
