// The `sluice` command line (placeholder until the CLI issue lands).
console.log('sluice: the CLI is being built; see README.md');
