import { Flags } from '@oclif/core';
import { SteepCommand } from '../cli/baseCommand.js';
import { globalFlags, jsonFlag } from '../cli/flags.js';
import { renderGrantsText } from '../render/grants.js';
import { grantsOf } from '../workflows/grants.js';

export default class Grants extends SteepCommand {
  static override summary =
    "Print each node's least-privileged role setup: the GRANTs that let steep run without a superuser.";
  static override description =
    `For managed PostgreSQL (RDS, Aurora, Cloud SQL, Azure, …), where nobody is superuser: per node of steep.yaml, the SQL the cloud's admin role (rds_superuser, cloudsqlsuperuser, azure_pg_admin) runs once so that the role steep connects as can do what the file needs there: the state schema, publications and the replication user, subscriptions and their inits, a merge's replication origins, a switchover's fence. Version aware (14–18); what a version cannot grant is a comment saying so.
Without --pg-version steep reads each node's server version; with it nothing connects.`;
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
    this.colorEnabled(flags);
    const { nodes } = this.warned(await grantsOf(flags.config, { pgVersion: flags['pg-version'] }));
    if (flags.json) this.outJson({ nodes }, 2);
    else this.out(renderGrantsText(nodes));
  }
}
