import { Argument, type Command } from 'commander';
import { bashCompletion, zshCompletion } from '../completion.js';

export function registerCompletion(program: Command) {
  program
    .command('completion')
    .addArgument(new Argument('<shell>', 'bash or zsh').choices(['bash', 'zsh']))
    .description('Print a shell completion script for bash or zsh (commands, subcommands, options)')
    .addHelpText(
      'after',
      `
Examples:
  $ tessera completion bash > ~/.local/share/bash-completion/completions/tessera
  $ source <(tessera completion bash)                 # this bash session
  $ source <(tessera completion zsh)                  # this zsh session (after compinit)
  $ tessera completion zsh > "\${fpath[1]}/_tessera"`,
    )
    .action((shell: string) => {
      process.stdout.write(shell === 'bash' ? bashCompletion(program) : zshCompletion(program));
    });
}
