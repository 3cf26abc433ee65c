//! Shell conventions: `gauntlet completions bash|zsh|fish` (clap_complete) and `gauntlet man`
//! (clap_mangen), both generated from the same clap definition the binary parses with, so they
//! never drift from the real flags.

use std::io::Write;
use std::path::PathBuf;

use anyhow::Context;

use crate::exit::Exit;

/// Shells `gauntlet completions` writes a script for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Shell {
    /// bash: `gauntlet completions bash > /etc/bash_completion.d/gauntlet`
    Bash,
    /// zsh: `gauntlet completions zsh > "${fpath[1]}/_gauntlet"`
    Zsh,
    /// fish: `gauntlet completions fish > ~/.config/fish/completions/gauntlet.fish`
    Fish,
}

/// Flags of `gauntlet completions`.
#[derive(Debug, clap::Args)]
pub struct CompletionsArgs {
    /// The shell to write the completion script for.
    pub shell: Shell,
}

/// Flags of `gauntlet man`.
#[derive(Debug, clap::Args)]
pub struct ManArgs {
    /// Write gauntlet.1 and one gauntlet-<command>.1 per subcommand into this directory
    /// instead of printing gauntlet.1 on standard output.
    #[arg(long, value_name = "DIR")]
    pub out_dir: Option<PathBuf>,
}

/// Writes the completion script of `cmd` for `args.shell` on standard output.
pub fn completions(args: CompletionsArgs, mut cmd: clap::Command) -> anyhow::Result<Exit> {
    let shell = match args.shell {
        Shell::Bash => clap_complete::Shell::Bash,
        Shell::Zsh => clap_complete::Shell::Zsh,
        Shell::Fish => clap_complete::Shell::Fish,
    };
    let name = cmd.get_name().to_string();
    let mut out = Vec::new();
    clap_complete::generate(shell, &mut cmd, name, &mut out);
    std::io::stdout()
        .write_all(&out)
        .context("writing the completion script to standard output")?;
    Ok(Exit::Valid)
}

/// Writes the man page(s) of `cmd`.
pub fn man(args: ManArgs, cmd: clap::Command) -> anyhow::Result<Exit> {
    let cmd = {
        let mut c = cmd;
        c.build();
        c
    };
    match args.out_dir {
        None => {
            let mut out = Vec::new();
            clap_mangen::Man::new(cmd)
                .render(&mut out)
                .context("rendering the man page")?;
            std::io::stdout()
                .write_all(&out)
                .context("writing the man page to standard output")?;
        }
        Some(dir) => {
            std::fs::create_dir_all(&dir)
                .with_context(|| format!("--out-dir: cannot create {}", dir.display()))?;
            clap_mangen::generate_to(cmd, &dir)
                .with_context(|| format!("--out-dir: writing man pages into {}", dir.display()))?;
        }
    }
    Ok(Exit::Valid)
}
